"""The ``pfgen`` console script: ``validate`` and ``render`` without loading click.

``pfgen validate FILE`` (a pre-commit hook) and ``pfgen render FILE`` spend
most of their time starting up, and click with its imports is a good part of
that. :func:`main` runs these two commands itself when the command line is one
of the few shapes it understands completely::

    pfgen validate [PATH]... [--format text|json|github]
    pfgen render TEMPLATE [-o|--output yaml|json]

(``--format=json``, ``--output=json`` and ``-ojson`` as well; options and
arguments in any order; each option at most once). It checks PATH and TEMPLATE
as click's ``Path`` types would and runs the bodies in :mod:`pfgen.cli.commands`
that the click commands run, handling a broken pipe and Ctrl-C as click's
standalone mode does, so output and exit status are the same byte for byte.
Everything else -- other commands and options, ``-h``/``--help``, ``--``, bad
values, unreadable paths, shell completion, Windows, streams with an ASCII
encoding -- goes to click (:mod:`pfgen.cli.main`), so usage errors stay click's.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

FORMATS = ("text", "json", "github")  # validate --format
OUTPUTS = ("yaml", "json")  # render -o/--output


def main() -> None:
    request = parse(sys.argv[1:])
    if request is None or not _plain_environment():
        from pfgen.cli.main import main as click_main

        click_main()  # exits
        return
    from pfgen.cli import commands

    name, args = request
    _standalone(getattr(commands, name), args)


def parse(args: list[str]) -> Optional[tuple[str, tuple[Any, ...]]]:
    """The function of :mod:`pfgen.cli.commands` that ``args`` ask for and its arguments,
    or None when click should handle them."""
    if args[:1] == ["validate"]:
        options = _options(args[1:], {"--format": FORMATS}, {})
        if options is None:
            return None
        values, paths = options
        if not all(_path_ok(p, dir_okay=True) for p in paths):
            return None
        return "validate", (tuple(paths), values.get("--format", "text"))
    if args[:1] == ["render"]:
        options = _options(args[1:], {"--output": OUTPUTS}, {"-o": "--output"})
        if options is None:
            return None
        values, positional = options
        if len(positional) != 1 or not (positional[0] == "-" or _path_ok(positional[0], dir_okay=False)):
            return None
        return "render", (positional[0], values.get("--output", "yaml"))
    return None


def _options(args: list[str], choices: dict[str, tuple[str, ...]],
             short: dict[str, str]) -> Optional[tuple[dict[str, str], list[str]]]:
    """Options (long name -> value) and positional arguments, parsed as click parses them;
    None for anything else: an unknown option or value, a repeated option, ``--``."""
    values: dict[str, str] = {}
    positional: list[str] = []
    rest = iter(args)
    for arg in rest:
        if arg == "-" or not arg.startswith("-"):
            positional.append(arg)
            continue
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            if not eq:
                value = next(rest, None)
        else:  # -oVALUE or -o VALUE
            name, value = short.get(arg[:2], ""), arg[2:] or next(rest, None)
        if name not in choices or name in values or value not in choices[name]:
            return None
        values[name] = value
    return values, positional


def _path_ok(path: str, *, dir_okay: bool) -> bool:
    """Whether click's ``Path(dir_okay=dir_okay)`` (not required to exist) accepts ``path``."""
    import stat

    try:
        st = os.stat(path)
    except OSError:
        return True
    if not dir_okay and stat.S_ISDIR(st.st_mode):
        return False
    return os.access(path, os.R_OK)


def _plain_environment() -> bool:
    """Whether click.echo would write to sys.stdout and sys.stderr as they are, and no shell
    asks click for completions (``_<PROG>_COMPLETE``)."""
    import codecs

    if os.name == "nt" or any(k.startswith("_") and k.endswith("_COMPLETE") for k in os.environ):
        return False
    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None)
        if not encoding or getattr(stream, "errors", None) is None:
            return False
        try:
            if codecs.lookup(encoding).name == "ascii":
                return False
        except LookupError:
            return False
    return True


def _standalone(command: Any, args: tuple[Any, ...]) -> None:
    """Run ``command(*args)`` as click's standalone mode runs a command's callback."""
    import errno

    try:
        try:
            command(*args)
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            sys.stdout = _PacifyFlushWrapper(sys.stdout)  # type: ignore[assignment]
            sys.stderr = _PacifyFlushWrapper(sys.stderr)  # type: ignore[assignment]
            sys.exit(1)
        except (EOFError, KeyboardInterrupt):
            sys.stderr.write("\n")  # closes the terminal's ^C echo
            sys.stderr.flush()
            sys.stderr.write("Aborted!\n")
            sys.stderr.flush()
            sys.exit(1)
    except (EOFError, KeyboardInterrupt):  # a second one while reporting the first
        sys.exit(1)


class _PacifyFlushWrapper:
    """What click leaves on sys.stdout and sys.stderr after a broken pipe: the interpreter's
    final flush ignores EPIPE instead of printing an exception."""

    def __init__(self, wrapped) -> None:
        self.wrapped = wrapped

    def flush(self) -> None:
        import errno

        try:
            self.wrapped.flush()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise

    def __getattr__(self, attr: str):
        return getattr(self.wrapped, attr)
