#!/usr/bin/env bash
# Knowledge distillation of the sample model into half- and quarter-width students: accuracy, size,
# training speed beside inference speed. Needs `mvn -B install -DskipTests` first (the test-data jar
# holds the Fashion-MNIST reader) and the dataset-fashion-mnist Debian package.
set -euo pipefail
cd "$(dirname "$0")/.."
# The host's test jar (TestModels), the test-data jar (Fashion-MNIST) and the plugin test kit (ConvNets).
tests_jar=$(ls host/target/refinery-host-*-tests.jar test-data/target/refinery-test-data-*[0-9T].jar \
  plugin-testkit/target/refinery-plugin-testkit-*[0-9T].jar 2>/dev/null | paste -sd:)
[ -f dist/refinery.jar ] && [ -n "$tests_jar" ] || { echo "bench/distill.sh: run 'mvn -B install -DskipTests' first" >&2; exit 2; }
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(java -version 2>&1 | head -1); date: $(date -u +%Y-%m-%dT%H:%MZ)"
java -cp "dist/refinery.jar:dist/plugins/refinery-plugin-distill.jar:dist/plugins/refinery-plugin-quantize.jar:$tests_jar" \
  -Drefinery.log.level=ERROR bench/DistillBench.java
