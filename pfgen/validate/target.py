"""What a TrainJob (target trainjob, Kubeflow Trainer v2.3) cannot express: positioned errors.

The TrainJob emitter (pfgen/emit/trainjob.py) raises no user errors; every
setting it could not carry to the cluster is refused here, at its line and
column, instead of being dropped silently:

* ``pod.priority_class`` and ``pod.scheduler_name`` of pfgen.yaml: the v2.3
  override mechanism (``spec.runtimePatches[].trainingRuntimeSpec.template.spec
  .replicatedJobs[].template.spec.template.spec``, a PodSpecPatch) has no
  ``priorityClassName`` or ``schedulerName``; they belong in the runtime;
* ``run_policy:`` of pfgen.yaml: a TrainJob has no runPolicy or restartPolicy;
  restarts and failure are the runtime's (its JobSet ``failurePolicy`` and the
  Jobs' ``backoffLimit``);
* a job name too long for JobSet's pod names: JobSet's webhook refuses a
  JobSet whose longest pod name ``<name>-node-0-<nodes-1>-abcde`` exceeds 63
  characters (sigs.k8s.io/jobset v0.12.0 ``pkg/webhooks/jobset_webhook.go``);
  for a Katib trial, ``<name>`` is the trial's ``<experiment>-<8 characters>``.
"""

from __future__ import annotations

from pfgen.errors import Collector, Diagnostic, display_path
from pfgen.kube import operator_v2
from pfgen.load.document import Document
from pfgen.resolve.plan import JobPlan
from pfgen.validate.config import ProjectConfig

_POD_FIELDS = (
    ("priority_class", "priorityClassName"),
    ("scheduler_name", "schedulerName"),
)


def _config_error(config: ProjectConfig, key: str, line: int, col: int, message: str) -> Diagnostic:
    shown = display_path(config.path) if config.path is not None else "pfgen.yaml"
    return Diagnostic(shown, line, col, message)


def check(doc: Document, plan: JobPlan, config: ProjectConfig, issues: Collector, tuning: bool = False) -> None:
    """Refuse, with positions, what plan's TrainJob could not carry (only for target trainjob).

    ``tuning``: the job is a Katib Experiment, whose trials are named ``<name>-<8 characters>``
    (kubeflow/katib v0.19.0 ``pkg/controller.v1beta1/suggestion/suggestionclient/suggestionclient.go``).
    """
    if plan.target != "trainjob":
        return
    fields = dict(_POD_FIELDS)
    for key, line, col in config.trainjob_refused:
        if key.startswith("pod."):
            name = key.split(".", 1)[1]
            issues.diagnostics.append(_config_error(
                config, key, line, col,
                f"{key}: a TrainJob cannot set {fields[name]} (Trainer v2.3's runtimePatches have no such pod field); "
                f"set it in the runtime '{plan.runtime.name}' ({plan.runtime.kind}), or use target pytorchjob"))
        else:
            issues.diagnostics.append(_config_error(
                config, key, line, col,
                "run_policy: a TrainJob has no runPolicy or restartPolicy; restarts and failure are set by the runtime "
                f"'{plan.runtime.name}' (its JobSet failurePolicy and the Jobs' backoffLimit): remove run_policy for "
                "target trainjob, or use target pytorchjob"))
    job_name = plan.name + ("-" + "x" * TRIAL_SUFFIX if tuning else "")
    longest = operator_v2.longest_pod_name(job_name, plan.nodes)
    if len(longest) > 63:
        where = doc.pos(("name",)) if "name" in doc.data else doc.pos(("experiment",)) if "experiment" in doc.data else (1, 1)
        what = "each Katib trial's TrainJob is named <name>-<8 characters>, and " if tuning else ""
        issues.error(where, f"the TrainJob name '{plan.name}' is too long for {plan.nodes} nodes: {what}JobSet names "
                            f"the pods '{operator_v2.pod_name(job_name, plan.nodes - 1)}-<5 characters>', which must "
                            f"be at most 63 characters; shorten the name by {len(longest) - 63}")


TRIAL_SUFFIX = 8  # Katib: trialName = fmt.Sprintf("%s-%s", experiment.Name, utilrand.String(8))
