"""The compiler pipeline, one template at a time:

    load -> schema.check -> rules.check (+ tuning.parse) -> resolve -> emit

Each stage adds diagnostics; the pipeline stops after the first stage that
found errors (later stages trust what earlier ones checked) and raises them
all at once as a UserError.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from pfgen.validate import plaintext
from pfgen.validate import rules
from pfgen.validate import schema
from pfgen.validate.config import ProjectConfig, config_for
from pfgen.secrets.credentials import SecretsConfig
from pfgen.secrets.objects import external_specs
from pfgen.emit import kustomization, pvc, pytorchjob, secrets
from pfgen.errors import Collector, Diagnostic, UserError, display_path
from pfgen.load.document import Document, load_file, load_text
from pfgen.resolve.plan import JobPlan, WorkspaceImage

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from pfgen.resolve.plan import Tuning



@dataclass(frozen=True)
class CompileOptions:
    """Command-line settings that change what a template compiles to."""

    workspace_dir: Optional[Path] = None  # -d/--workspace-dir override
    secrets_mode: Optional[str] = None  # --secrets-mode override of pfgen.yaml secrets.mode
    local: bool = False  # run --local: a workspace image is never pushed, so no registry is needed
    target: Optional[str] = None  # --target override of pfgen.yaml target (pytorchjob | trainjob)
    # False for `pfgen validate`, which writes nothing: workspaces are checked and read, but no
    # Dockerfile is rendered and no image tagged (see tag_image). Not part of the build cache's
    # key: validate looks up what build compiled.
    tag_images: bool = True


@dataclass
class CompiledJob:
    """One compiled template: its plan, its Kubernetes objects and its warnings."""

    plan: JobPlan
    objects: list[dict]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # external secrets mode: the job's ExternalSecrets (render prints them; build writes them once
    # per output tree, merged across jobs, see build.py) and the settings they were made with.
    secret_objects: list[dict] = field(default_factory=list)
    secrets_settings: Optional[SecretsConfig] = None
    secrets_mode: str = "env"

    @property
    def files(self) -> dict[str, str]:
        """File name in the job's output directory -> text: one file per kind."""
        files = files_for(self.objects)
        image = self.plan.workspace_image
        if image is not None and image.dockerfile is not None:  # the workspace image's build recipe (docs/images.md)
            files["Dockerfile"] = image.dockerfile
            files[".dockerignore"] = image.dockerignore
        return dict(sorted(files.items()))


def files_for(objects: list[dict]) -> dict[str, str]:
    """One file per kind (``<kind>.yaml``) plus the kustomization.yaml that lists them."""
    from pfgen.output import dump  # not at import: validate compiles, and never dumps

    by_kind: dict[str, list[dict]] = {}
    for obj in objects:
        by_kind.setdefault(f"{obj['kind'].lower()}.yaml", []).append(obj)
    files = {name: dump.to_yaml_stream(objs) if len(objs) > 1 else dump.to_yaml(objs[0]) for name, objs in by_kind.items()}
    files["kustomization.yaml"] = dump.to_yaml(kustomization.build(by_kind))
    return dict(sorted(files.items()))


def check_document(doc: Document, template: Path, config: ProjectConfig,
                   options: CompileOptions = CompileOptions()) -> tuple[Optional[JobPlan], list[Diagnostic]]:
    """Validate and resolve; returns the plan (None on errors) and all diagnostics."""
    plan, diagnostics, _ = _check(doc, template, config, options)
    return plan, diagnostics


def _check(doc: Document, template: Path, config: ProjectConfig,
           options: CompileOptions) -> tuple[Optional[JobPlan], list[Diagnostic], Optional[dict]]:
    """check_document, and the training job its checks built from the final plan (None when
    the plan changed after it: tuning), so that compiling does not build it again."""
    issues = Collector(doc.file)
    job = None
    plaintext.check(doc, issues, where="a template")
    schema.check(doc, issues)
    if not issues.has_errors:
        rules.check(doc, issues)
    if issues.has_errors:
        # Still report what can be checked on its own: the VM and the device count, and the rules
        # that check their own input's shape (dist, container paths, env names).
        from pfgen.resolve.job import vm_layout

        rules.check_despite_schema_errors(doc, issues)
        vm_layout(doc, config, issues)
    plan = None
    if not issues.has_errors:
        hpo = _parse_tuning(doc, issues)
        plan = resolve_plan(doc, template, config, issues, options)
        if plan is not None and plan.workspace_image is not None:
            plan = tag_image(plan, issues, render=options.tag_images)
        if plan is not None:
            from pfgen.validate import cmdrules

            if plan.target == "trainjob":
                from pfgen.validate import target

                target.check(doc, plan, config, issues, tuning=hpo is not None)
            job = training_job(plan)
            cmdrules.check_workspace(doc, plan, issues, config.workspace_infer, template)
            cmdrules.check_environment(doc, job, issues)
            if hpo is not None:
                from pfgen.validate import tuning

                hpo = tuning.check_trial_spec(doc, hpo, job, plan.name, issues)
                plan = replace(plan, tuning=hpo)
                job = None
    if issues.has_errors:
        return None, issues.diagnostics, None
    return plan, issues.diagnostics, job


def tag_image(plan: JobPlan, issues: Collector, *, render: bool = True) -> Optional[JobPlan]:
    """The plan with its workspace image's Dockerfile rendered and its content tag, which the
    pods' image reference carries; None when a file cannot be read (reported at the workspace).
    Without ``render`` (validate, which writes nothing) every file is read as hashing would
    read it, with the same errors, and the image stays untagged: no Jinja is loaded."""
    from pfgen.resolve.workspace import WorkspaceChanged

    image = plan.workspace_image
    assert image is not None
    try:
        tagged = tagged_image(image, render=render)
    except (WorkspaceChanged, OSError) as err:
        issues.error(image.pos, str(err))
        return None
    return replace(plan, image=tagged.reference, workspace_image=tagged)


def tagged_image(image: WorkspaceImage, *, render: bool = True) -> WorkspaceImage:
    """``image`` with its Dockerfile and tag (``render``), or as it is once every file was read;
    raises WorkspaceChanged or OSError when a file cannot be read as it was scanned."""
    from pfgen.resolve.workspace import Workspace, check_readable, image_tag

    workspace = Workspace(root=image.workspace_dir, name=image.workspace_name, files=image.files,
                          dockerignore=image.dockerignore)
    if not render:
        check_readable(workspace)
        return image
    from pfgen.emit import dockerfile

    text = dockerfile.render(base_image=image.base_image, mount_path=image.mount_path,
                             workspace_name=image.workspace_name)
    return replace(image, tag=image_tag(text, workspace), dockerfile=text)


def _parse_tuning(doc: Document, issues: Collector) -> Optional[Tuning]:
    """The template's tuning section, or None; pfgen.validate.tuning is loaded only for templates that have one."""
    if "tuning" not in doc.data:
        return None
    from pfgen.validate import tuning

    return tuning.parse(doc, issues)


def resolve_plan(doc: Document, template: Path, config: ProjectConfig, issues: Collector,
                 options: CompileOptions = CompileOptions()) -> Optional[JobPlan]:
    import dataclasses

    from pfgen.secrets import credentials
    from pfgen.resolve.job import resolve

    plan = resolve(doc, config, template, issues, workspace_dir=options.workspace_dir, local=options.local)
    data = doc.data.get("data") or {}
    # The pods pull the workspace image (from pfgen.yaml's registry) when there is one, else docker.image.
    pulled = plan.image if plan is not None else doc.get(("job_setting", "docker", "image"))
    uses, channel = credentials.resolve(
        doc, config.credentials, issues, image=pulled,
        datastores=[data["name"]] if isinstance(data.get("name"), str) else [],
    )
    if plan is None:
        return None
    pull = tuple(use.secret_name for use in uses if use.kind == "docker")
    return dataclasses.replace(plan, credentials=uses, slack_channel=channel, image_pull_secrets=pull,
                               target=options.target or plan.target)


def training_job(plan: JobPlan) -> dict:
    """The training job with its credentials wired in: the plain build's job, and each tuning trial.

    A PyTorchJob, or with target trainjob a TrainJob (the same plan, another emitter)."""
    if plan.target == "trainjob":
        from pfgen.emit import trainjob

        return trainjob.build(plan)
    return secrets.wire(pytorchjob.build(plan), plan)


def emit(plan: JobPlan, job: Optional[dict] = None) -> list[dict]:
    """Every object of the plan; ``job`` is its training_job when the caller already built it."""
    job = job if job is not None else training_job(plan)
    if plan.tuning is not None:
        if plan.target == "trainjob":
            from pfgen.emit import katib_trainjob as katib
        else:
            from pfgen.emit import katib

        job = katib.build(plan, job)  # the Experiment, whose trials are this PyTorchJob (or TrainJob)
    return [job, *pvc.build(plan)]


def compile_document(doc: Document, template: Path, config: Optional[ProjectConfig] = None,
                     options: CompileOptions = CompileOptions()) -> CompiledJob:
    config = config if config is not None else config_for(template)
    plan, diagnostics, job = _check(doc, template, config, options)
    if plan is None:
        raise UserError(diagnostics)
    specs = external_specs(plan, config.credentials, options.secrets_mode)
    return CompiledJob(plan, emit(plan, job), [d for d in diagnostics if not d.is_error], specs,
                       config.credentials.secrets if specs else None,
                       options.secrets_mode or config.credentials.secrets.mode)


def compile_job(template: Path, *, config: Optional[ProjectConfig] = None,
                options: CompileOptions = CompileOptions()) -> CompiledJob:
    doc = load_file(template, display_path(template))
    return compile_document(doc, template, config, options)


def compile_text(text: str, template: Path, display: str, *, config: Optional[ProjectConfig] = None,
                 options: CompileOptions = CompileOptions()) -> CompiledJob:
    return compile_document(load_text(text, display), template, config, options)
