#!/usr/bin/env bash
# Wall time and peak heap of quantize-static on a MobileNetV2-sized model for 100, 1,000 and 10,000
# calibration samples: heap must stay flat as samples grow. Usage: bench/calibration-memory.sh [COUNTS] [METHOD]
# Needs `mvn -B install -DskipTests` first (the host's test jar holds the model generator).
set -euo pipefail
cd "$(dirname "$0")/.."
# The host's test jar (TestModels), the test-data jar (Fashion-MNIST) and the plugin test kit (ConvNets).
tests_jar=$(ls host/target/refinery-host-*-tests.jar test-data/target/refinery-test-data-*[0-9T].jar \
  plugin-testkit/target/refinery-plugin-testkit-*[0-9T].jar 2>/dev/null | paste -sd:)
[ -f dist/refinery.jar ] && [ -n "$tests_jar" ] || { echo "bench/calibration-memory.sh: run 'mvn -B install -DskipTests' first" >&2; exit 2; }
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(java -version 2>&1 | head -1); date: $(date -u +%Y-%m-%dT%H:%MZ)"
java -cp "dist/refinery.jar:dist/plugins/refinery-plugin-quantize.jar:$tests_jar" bench/CalibrationMemory.java "${1:-100,1000,10000}" "${2:-min-max}"
