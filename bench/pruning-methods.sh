#!/usr/bin/env bash
# Pruning without training by each method (magnitude, reconstruct, sparsegpt) at 50/80/90% and 2:4 on the
# two-class and the ten-class sample models: accuracy and zipped size (docs/benchmarks.md). Needs
# `mvn -B package -DskipTests` first (the test-data jar holds the Fashion-MNIST reader) and the
# dataset-fashion-mnist Debian package. Usage: bench/pruning-methods.sh [binary|ten]
set -euo pipefail
cd "$(dirname "$0")/.."
# The host's test jar (TestModels), the test-data jar (Fashion-MNIST) and the plugin test kit (ConvNets).
tests_jar=$(ls host/target/refinery-host-*-tests.jar test-data/target/refinery-test-data-*[0-9T].jar \
  plugin-testkit/target/refinery-plugin-testkit-*[0-9T].jar 2>/dev/null | paste -sd:)
[ -f dist/refinery.jar ] && [ -f dist/plugins/refinery-plugin-prune.jar ] && [ -n "$tests_jar" ] \
  || { echo "bench/pruning-methods.sh: run 'mvn -B package -DskipTests' first" >&2; exit 2; }
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(java -version 2>&1 | head -1); date: $(date -u +%Y-%m-%dT%H:%MZ)"
java -cp "dist/refinery.jar:${PRUNE_CLASSES:-dist/plugins/refinery-plugin-prune.jar}:$tests_jar" \
  -Drefinery.log.level=ERROR ${BENCH_OPTS:-} bench/PruningMethods.java "$@"
