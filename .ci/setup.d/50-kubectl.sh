#!/usr/bin/env bash
# kubectl, for `kubectl kustomize` in the conformance tests and `pfgen build --verify`.
# Some machines have it from the Google Cloud SDK; elsewhere Debian's
# kubernetes-client provides it (its built-in kustomize handles the plain
# resources-only kustomizations pfgen writes). Idempotent.
set -euo pipefail
if command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show kubernetes-client >/dev/null 2>&1; then
  apt-get update -q
fi
apt-get install -y -q --no-install-recommends kubernetes-client
kubectl version --client >/dev/null 2>&1 || kubectl version --client=true
