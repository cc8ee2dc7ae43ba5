#!/usr/bin/env bash
# Trains the sample model's CNN on all ten Fashion-MNIST classes with the project's training engine and
# writes samples/seed_cnn_ten.onnx (see bench/TrainTenClass.java). Needs `mvn -B package -DskipTests` first
# (the test-data jar holds the Fashion-MNIST reader) and the dataset-fashion-mnist Debian package.
# Usage: bench/train-ten-class.sh [epochs]   (default 5, as committed)
set -euo pipefail
cd "$(dirname "$0")/.."
# The host's test jar (TestModels), the test-data jar (Fashion-MNIST) and the plugin test kit (ConvNets).
tests_jar=$(ls host/target/refinery-host-*-tests.jar test-data/target/refinery-test-data-*[0-9T].jar \
  plugin-testkit/target/refinery-plugin-testkit-*[0-9T].jar 2>/dev/null | paste -sd:)
[ -f dist/refinery.jar ] && [ -n "$tests_jar" ] \
  || { echo "bench/train-ten-class.sh: run 'mvn -B package -DskipTests' first" >&2; exit 2; }
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(java -version 2>&1 | head -1); date: $(date -u +%Y-%m-%dT%H:%MZ)"
java -cp "dist/refinery.jar:$tests_jar" -Drefinery.log.level=ERROR bench/TrainTenClass.java "$@"
