"""Kubernetes names derived from template text.

A name that is already a valid DNS-1035 label (what the PyTorchJob webhook
requires) within the length limit is used as written. Anything else is
normalised (lowercased, runs of other characters become '-', a leading digit
gets a 'job-' prefix) and given a short hash of the original text, so two
different inputs can never produce the same name, and the same input always
produces the same one.
"""

from __future__ import annotations

import re
import unicodedata

# The name rules of k8s.io/apimachinery pkg/util/validation (validation.go); the length
# limits are the callers' (63 for labels, 253 for subdomains).
DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?\Z")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")  # also IANA_SVC_NAME's shape (port names)
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")  # a label key's name part
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")
# Pods and headless Services are named <job>-worker-<i>; keep that within 63.
JOB_NAME_MAX = 48


def has_control_chars(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text)


def _suffix(raw: str) -> str:
    import hashlib  # here: OpenSSL costs every start-up, and most names need no hash

    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:8]


def k8s_name(raw: str, max_len: int = JOB_NAME_MAX) -> str | None:
    """A DNS-1035 label for ``raw``, or None when nothing usable remains."""
    if len(raw) <= max_len and DNS1035.match(raw):
        return raw
    base = re.sub(r"[^a-z0-9]+", "-", raw.lower()).strip("-")
    if not base:
        return None
    if not base[0].isalpha():
        base = "job-" + base
    base = base[: max_len - 9].rstrip("-")
    return f"{base}-{_suffix(raw)}"


def is_dns1123_subdomain(name: str) -> bool:
    return len(name) <= 253 and bool(DNS1123_SUBDOMAIN.match(name))


# The oldest Training Operator whose pods get what this output relies on: PET_NODE_RANK,
# PET_NPROC_PER_NODE and WORLD_SIZE = replicas x nprocPerNode (kubeflow/trainer v1.7.0,
# pkg/controller.v1/pytorch/envvar.go; v1.6.0 set WORLD_SIZE to the replica count), and
# runPolicy.suspend, which Kueue needs (its PyTorchJob docs also require v1.7.0).
MIN_OPERATOR_VERSION = "v1.7.0"
MIN_OPERATOR_ANNOTATION = "pfgen.dev/min-training-operator"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"  # Kueue's constants.QueueLabel

# The Training Operator's PyTorchJob (kubeflow/trainer v1.9 pkg/apis/kubeflow.org/v1/pytorch_types.go
# PytorchJobDefaultContainerName, PytorchJobDefaultPortName): the container its webhook requires
# and whose port of that name it reads for MASTER_PORT; also Katib's primaryContainerName.
CONTAINER = "pytorch"
PORT_NAME = "pytorchjob-port"
