#!/usr/bin/env bash
# The seed article's size/accuracy table on the sample model: baseline, dynamic quantization, pruning,
# pruning then quantization (reconstructed, and while fine-tuning), and auto (without and with training
# data), each as one `refinery optimize` command scored on the 2,000 Fashion-MNIST test images of classes
# 5 and 7. Installs the dataset-fashion-mnist Debian package when it
# is missing (needs root). Usage: mvn -B install -DskipTests && bench/seed-table.sh [ten]
# (ten: the ten-class model samples/seed_cnn_ten.onnx on all ten classes' test images)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -gt 1 ] || { [ $# -eq 1 ] && [ "$1" != ten ]; }; then
  echo "usage: bench/seed-table.sh [ten]" >&2; exit 2
fi
if [ ! -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then
  echo "installing dataset-fashion-mnist (Debian package)" >&2
  apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi
# The host's test jar (TestModels), the test-data jar (Fashion-MNIST) and the plugin test kit (ConvNets).
tests_jar=$(ls host/target/refinery-host-*-tests.jar test-data/target/refinery-test-data-*[0-9T].jar \
  plugin-testkit/target/refinery-plugin-testkit-*[0-9T].jar 2>/dev/null | paste -sd:)
[ -f dist/refinery.jar ] && [ -n "$tests_jar" ] || { echo "bench/seed-table.sh: run 'mvn -B install -DskipTests' first" >&2; exit 2; }
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(java -version 2>&1 | head -1); date: $(date -u +%Y-%m-%dT%H:%MZ)"
java -cp "dist/refinery.jar:$tests_jar" bench/SeedTable.java "$@"
