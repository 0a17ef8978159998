"""``pfgen build`` and ``pfgen image build`` without their command lines: what the commands run.

:func:`compile_trees` compiles the templates into one tree per OUT
(:mod:`pfgen.output.stream`) and, with ``verify``, checks every file the build
would write; :func:`write_trees` then compares every OUT first (a dry run, so
that every conflict is found before anything is written) and writes those
that are out of date, or, for ``--check``, only compares. The command line
(:mod:`pfgen.cli.build`) decides what to report and with which exit code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pfgen.errors import Diagnostic, UserError, display_path, ordered
from pfgen.output.stream import Inputs, Tree

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, Optional

    from pfgen.output.cache import BuildCache
    from pfgen.output.write import Change
    from pfgen.pipeline import CompileOptions, CompiledJob


@dataclass
class Trees:
    """What a build should write: the tree of each OUT, in path order, and the warnings of all jobs."""

    trees: list[tuple[Path, Tree]]
    jobs: int  # templates compiled or served from the cache
    warnings: list[Diagnostic]
    inputs: Optional[Inputs] = None  # what a whole-build stamp must cover (pfgen/output/wholestamp.py)

    @property
    def empty(self) -> bool:
        """No job in any OUT, and no OUT holds anything pfgen wrote: nothing to build or to prune."""
        return not any(tree.jobs or tree.unchanged for _, tree in self.trees) \
            and not any(owns_something(root) for root, _ in self.trees)


def compile_trees(templates: list[Path], out: Optional[Path], options: CompileOptions, extra_roots: Iterable[Path],
                  *, cache: BuildCache, verify: bool, progress: bool, warnings: Iterable[Diagnostic] = ()) -> Trees:
    """Every OUT's tree (raises UserError with every template's errors); ``verify``: every file checked
    against the shipped schemas, whose errors raise too. ``warnings`` (discovery's) join the jobs' own."""
    from pfgen.output.stream import build

    result = build(templates, out, options, extra_roots, cache=cache, texts=verify, progress=progress)
    if verify:
        result.warnings.extend(verify_trees(result.trees))
    return Trees(sorted(result.trees.items()), result.jobs, ordered([*warnings, *result.warnings]),
                 None if verify else result.inputs)


def write_trees(trees: list[tuple[Path, Tree]], *, check: bool) -> dict[Path, list[Change]]:
    """Each OUT's changes. All OUTs are compared first (nothing is written when any of them has a
    conflict); unless ``check``, those out of date (or left half-written by an interrupted build) are
    then written. Raises UserError (nothing written) for a conflict."""
    from pfgen.output.write import interrupted, write_tree

    stale: set[Path] = set()  # the OUTs the dry run found out of date
    by_root: dict[Path, list[Change]] = {}
    for dry_run in ([True] if check else [True, False]):
        by_root = {}
        for root, tree in trees:
            if not dry_run and root not in stale and not interrupted(root):
                continue  # up to date, and nothing to recover: leave it alone (no lock, no writes)
            written = write_tree(root, tree.jobs, check=dry_run, sources=tree.sources,
                                 root_files=tree.root_files, display=display_path(root), unchanged=tree.unchanged,
                                 headered=True)
            by_root[root] = written.changes
            if written.changes:
                stale.add(root)
    return by_root


def verify_trees(trees: dict[Path, Tree]) -> list[Diagnostic]:
    """Verify every file a build would write; errors raise (nothing is written), warnings are returned."""
    from pfgen.kube.verify import verify_files

    found: list[Diagnostic] = []
    for root, tree in sorted(trees.items()):
        files = {f"{directory}/{name}": text for directory, job_files in tree.jobs.items() for name, text in job_files.items()}
        files.update(tree.root_files)
        found.extend(verify_files(files, display_path(root)))
    if any(d.is_error for d in found):
        raise UserError(found)
    return found


def owns_something(out: Path) -> bool:
    """Whether OUT holds a directory pfgen wrote."""
    from pfgen.output.write import recorded_sources

    return out.is_dir() and bool(recorded_sources(out))


def template_of_output_dir(path: str) -> str:
    """A job's output dir (deploy/<job>/) stands for the template its Dockerfile's marker names;
    any other path stands for itself."""
    from pfgen.output.write import marker_source

    source = marker_source(Path(path) / "Dockerfile")
    return str(Path(path) / source) if source is not None else path


def stale_manifests(compiled: list[tuple[Path, CompiledJob, object]]) -> list[tuple[Path, str]]:
    """(manifest, image reference) for each job whose PyTorchJob in the default output dir does not
    name the workspace image being built: those manifests need a `pfgen build`."""
    from pfgen.output.outdir import out_dir_for

    found = []
    for template, job, _ in compiled:
        image = job.plan.workspace_image
        manifest = out_dir_for(template, None) / job.plan.name / "pytorchjob.yaml"
        if image is None or not manifest.is_file():
            continue
        if f"image: {image.reference}\n" not in manifest.read_text(encoding="utf-8"):
            found.append((manifest, image.reference))
    return found
