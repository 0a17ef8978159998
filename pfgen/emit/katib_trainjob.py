"""The Katib v1beta1 Experiment whose trials are TrainJobs (target trainjob).

The same Experiment as pfgen/emit/katib.py builds around the PyTorchJob, with
the trial template's fields for a TrainJob as Katib v0.19 defaults them
(kubeflow/katib v0.19.0 ``pkg/apis/controller/experiments/v1beta1/constants.go``
and ``experiment_defaults.go``: TrainJob is one of ``KubeflowJobKinds``), written
out so that the object in Git is the object that runs:

* ``primaryContainerName: node``: the torch runtime's trainer container
  (the upstream example ``examples/v1beta1/kubeflow-trainer/trainjob-pytorch.yaml``);
* ``primaryPodLabels``: node 0 of the ``node`` replicated Job
  (``jobset.sigs.k8s.io/replicatedjob-name: node``,
  ``batch.kubernetes.io/job-completion-index: "0"``): Katib collects metrics there;
* ``successCondition`` on the TrainJob's ``Complete`` condition (a PyTorchJob's is
  ``Succeeded``), ``failureCondition`` on ``Failed``.
"""

from __future__ import annotations

from pfgen.emit import katib
from pfgen.kube import operator_v2

PRIMARY_CONTAINER = operator_v2.NODE
PRIMARY_POD_LABELS = {"jobset.sigs.k8s.io/replicatedjob-name": operator_v2.NODE,
                      "batch.kubernetes.io/job-completion-index": "0"}
SUCCESS_CONDITION = 'status.conditions.#(type=="Complete")#|#(status=="True")#'
FAILURE_CONDITION = 'status.conditions.#(type=="Failed")#|#(status=="True")#'


def build(plan, job: dict) -> dict:
    """The Experiment for ``plan`` (with ``plan.tuning``) around its TrainJob ``job``."""
    experiment = katib.build(plan, job)
    template = experiment["spec"]["trialTemplate"]
    template["primaryContainerName"] = PRIMARY_CONTAINER
    template["primaryPodLabels"] = dict(PRIMARY_POD_LABELS)
    template["successCondition"] = SUCCESS_CONDITION
    template["failureCondition"] = FAILURE_CONDITION
    return experiment
