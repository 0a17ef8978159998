"""Katib v0.19's own names and rules: what validation, the Experiment emitter, ``pfgen lint``
and ``pfgen run --local`` must agree on, defined once."""

from __future__ import annotations

import re

# manifests/v1beta1/installs/*/katib-config.yaml, `suggestions:` (identical in every install).
ALGORITHMS = (
    "random", "tpe", "grid", "hyperband", "bayesianoptimization", "cmaes", "sobol",
    "multivariate-tpe", "enas", "darts", "pbt",
)  # fmt: skip
NAS_ALGORITHMS = ("enas", "darts")  # they need an Experiment's nasConfig
# pkg/controller.v1beta1/consts/const.go TrialTemplateParamReplaceFormatRegex, with the name as group 1
TRIAL_PARAMETER = re.compile(r"\$\{trialParameters\.(.+?)\}")
# pkg/metricscollector/v1beta1/common/const.go DefaultFilter: name=value, what a TEXT collector
# without a metricsFormat reads.
DEFAULT_FILTER = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"
