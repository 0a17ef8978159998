"""pfgen: compile PeriFlow job templates into Kubeflow manifests for GitOps."""

__version__ = "0.1.0"
