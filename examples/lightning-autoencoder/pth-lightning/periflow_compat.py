"""The PeriFlow SDK when it is installed, else a stand-in with the same calls.

The SDK (periflow_sdk) talks to the PeriFlow agent only when
PERIFLOW_ENABLED=1; elsewhere its calls do nothing. The stand-in keeps that
behaviour where the package is not installed (local runs, plain clusters).
"""

from __future__ import annotations

import contextlib

try:
    import periflow_sdk as pf  # noqa: F401
except ImportError:
    class _NoSDK:
        def init(self, total_train_steps: int, **_kwargs) -> None:
            self.total_train_steps = total_train_steps

        def start_step(self) -> None:
            pass

        def end_step(self) -> None:
            pass

        @contextlib.contextmanager
        def train_step(self):
            self.start_step()
            yield
            self.end_step()

        def metric(self, _values: dict) -> None:
            pass

        def upload_checkpoint(self) -> None:
            pass

    pf = _NoSDK()
