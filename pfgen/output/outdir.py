"""Where a template's job is written (OUT), and the checks an OUT must pass before anything
is written to it or a template is declared valid.

Kept apart from :mod:`pfgen.output.layout` and :mod:`pfgen.output.write` so that
``pfgen validate`` of a template (the pre-commit hook's command) checks its OUT
without importing the layout, the dumper's users or the writer.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pfgen.errors import Diagnostic, UserError
from pfgen.load.discover import DEFAULT_OUT
from pfgen.realpaths import resolved
from pfgen.validate.config import config_for

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional


def out_dir_for(template: Path, out: Optional[Path], memo: Optional[dict] = None) -> Path:
    """Where ``template``'s job goes (``memo``: see config.find_config)."""
    if out is not None:
        return checked_out(Path(os.path.abspath(out)))  # absolute: the memo must not outlive a chdir
    key = ("out", os.path.dirname(template) if os.path.isabs(template) else (os.getcwd(), os.path.dirname(template)))
    if memo is not None and key in memo:  # the templates of one directory share their OUT
        return memo[key]
    config = config_for(template, memo)
    governing = ("config", config.path if config.path else os.getcwd())
    found = memo.get(governing) if memo is not None else None  # the templates of one project share it too
    if found is None:
        root = config.path.parent if config.path else Path.cwd()
        found = checked_out(Path(os.path.abspath(root / DEFAULT_OUT)))
    if memo is not None:
        memo[key] = memo[governing] = found
    return found


@lru_cache(maxsize=None)
def checked_out(out: Path) -> Path:
    """OUT resolved, once it is known not to lead out of its repository through a link
    (:func:`check_out`)."""
    check_out(out)
    return resolved(out)


def check_out(out: Path, display: Optional[str] = None) -> None:
    """Refuse (UserError) an OUT that is, or is reached through, a symbolic link leading out of its
    repository (pfgen.safefs.repository_root of its parent), or that cannot be a directory (a file
    is there, or where one of its parents goes)."""
    from pfgen import safefs

    display = display or safefs.shown(out)
    link = safefs.escaping_link(out, safefs.repository_root(out.parent))
    if link is not None:
        raise UserError([Diagnostic(display, 1, 1, f"the output directory leads out of the repository through the "
                                    f"symbolic link {safefs.shown(link[0])!r} (to {link[1]!r}); pfgen does not write "
                                    "through links out of the repository: make it a directory")])
    here = Path(os.path.abspath(out))
    while not os.path.lexists(here) and here != here.parent:
        here = here.parent
    if not here.is_dir():
        what = "the output directory" if here == Path(os.path.abspath(out)) else f"{safefs.shown(here)!r}, where a parent of the output directory goes,"
        raise UserError([Diagnostic(display, 1, 1, f"{what} is a file, not a directory; choose another -o or move the file away")])
