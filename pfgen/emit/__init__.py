"""Stage 4: emitters. Each turns a JobPlan into Kubernetes objects (dicts) and
never touches the disk; ``pfgen.output.dump`` serialises them."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def tree_copy(value: Any) -> Any:
    """A deep copy of a Kubernetes object under construction (dicts, lists and scalars only):
    what ``copy.deepcopy`` gives for such data, at a fraction of its cost (no memo, no dispatch).
    Anything else is returned as is, so only plain trees may be passed."""
    kind = type(value)
    if kind is dict:
        return {k: tree_copy(v) for k, v in value.items()}
    if kind is list:
        return [tree_copy(v) for v in value]
    return value
