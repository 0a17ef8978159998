"""Upstream Kubernetes facts in one place: names and their rules, the Training Operator env model, offline verification of emitted objects."""
