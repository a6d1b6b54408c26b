#!/usr/bin/env bash
# Offline checks of the Kubernetes manifests (kubernetes/) and the Dockerfiles: schemas
# (Kubernetes 1.30 via kubernetes-validate, custom resources via kubernetes/crds/), the
# contracts with README.md and docs/architecture.md, the split scenarios, and the
# container security settings. Needs no cluster and no Docker engine.
#
# Installs what it needs itself, once: a virtualenv in .venv-k8s/ with the pinned packages
# of kubernetes/tests/requirements.txt (reinstalled only when that file changes).
# Extra arguments go to pytest, e.g. scripts/check-kubernetes.sh -k scenario -v
# Exit status: pytest's (0 when every check passed).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-k8s
REQUIREMENTS=kubernetes/tests/requirements.txt
PYTHON=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
    command -v "$PYTHON" >/dev/null || { echo "check-kubernetes: $PYTHON not found (Python 3.9+ is needed)" >&2; exit 1; }
    "$PYTHON" -m venv "$VENV" || { echo "check-kubernetes: could not create $VENV (on Debian: apt-get install python3-venv)" >&2; exit 1; }
fi

stamp="$VENV/.requirements.sha256"
wanted=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$wanted" ]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    echo "$wanted" >"$stamp"
fi

export PYTHONDONTWRITEBYTECODE=1
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider kubernetes/tests "$@"
