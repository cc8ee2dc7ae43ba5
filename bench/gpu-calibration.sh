#!/usr/bin/env bash
# Calibration time of quantize-static on CPU and on the CUDA provider, for the same MobileNetV2-sized
# model and data. Needs a machine with an NVIDIA GPU and the gpu build:
#   mvn -B -Pgpu install -DskipTests && bench/gpu-calibration.sh [SAMPLES]
# On a machine without one it says so and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "skipped: no NVIDIA GPU on this machine (nvidia-smi finds none); the CUDA calibration benchmark needs one"
  exit 0
fi
# The host's test jar (TestModels), the test-data jar (Fashion-MNIST) and the plugin test kit (ConvNets).
tests_jar=$(ls host/target/refinery-host-*-tests.jar test-data/target/refinery-test-data-*[0-9T].jar \
  plugin-testkit/target/refinery-plugin-testkit-*[0-9T].jar 2>/dev/null | paste -sd:)
[ -f dist/refinery.jar ] && [ -n "$tests_jar" ] || { echo "bench/gpu-calibration.sh: run 'mvn -B -Pgpu install -DskipTests' first" >&2; exit 2; }
if ! unzip -l dist/refinery.jar | grep -q "providers_cuda"; then
  echo "bench/gpu-calibration.sh: dist/refinery.jar is the CPU build; rebuild with 'mvn -B -Pgpu install -DskipTests'" >&2
  exit 2
fi
echo "machine: $(nproc) cores, $(nvidia-smi -L | head -1), $(java -version 2>&1 | head -1); date: $(date -u +%Y-%m-%dT%H:%MZ)"
java -cp "dist/refinery.jar:dist/plugins/refinery-plugin-quantize.jar:$tests_jar" \
  -Drefinery.log.level=ERROR bench/GpuCalibration.java "${1:-1000}"
