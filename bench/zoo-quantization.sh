#!/usr/bin/env bash
# Static and dynamic int8 on full-size torch exports: calibration time against one float32 inference pass over
# the same samples, int8 latency against float32 at batch 1 and 32 (2 threads, timed in alternation), SQNR.
# Usage: bench/zoo-quantization.sh ZOO [MODEL-FILE[=RECIPE;RECIPE...] ...]
#   ZOO: a folder written by `/usr/bin/python3 bench/zoo/export_zoo.py ZOO` (each model's folder holds its
#   exports, calibration.npz and eval.npz). Without model arguments, the set in docs/benchmarks.md.
# Needs `mvn -B package -DskipTests` first. JAVA_OPTS="-Druns=N" sets the batch-1 pairs (batch 32: a quarter);
# JAVA_OPTS="-Dlatency=false" times calibration and scores SQNR only.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/refinery.jar ] && [ -f dist/plugins/refinery-plugin-quantize.jar ] \
  || { echo "bench/zoo-quantization.sh: run 'mvn -B package -DskipTests' first" >&2; exit 2; }
[ $# -ge 1 ] && [ -d "$1" ] || { echo "usage: bench/zoo-quantization.sh ZOO [MODEL-FILE[=RECIPES] ...]" >&2; exit 2; }
zoo=$1; shift
if [ $# -eq 0 ]; then
  set -- 'resnet18/resnet18-op17-dynamic.onnx=quantize-static;quantize-dynamic;quantize-dynamic(conv=skip)' \
    'resnet18/resnet18-op13-fixed.onnx=quantize-static' \
    'resnet50/resnet50-op17-dynamic.onnx=quantize-static' \
    'mobilenet_v2/mobilenet_v2-op17-dynamic.onnx=quantize-static;quantize-static(method=entropy)' \
    'mobilenet_v3_small/mobilenet_v3_small-op17-dynamic.onnx=quantize-static;quantize-static(method=entropy)' \
    'mobilenet_v3_large/mobilenet_v3_large-op17-dynamic.onnx=quantize-static' \
    'efficientnet_b0/efficientnet_b0-op17-dynamic.onnx=quantize-static;quantize-static(method=entropy);quantize-static(method=percentile)' \
    'bert/bert-op17-dynamic.onnx=quantize-dynamic' \
    'lstm/lstm-op17-dynamic.onnx=quantize-dynamic'
fi
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(lscpu | sed -n 's/^Model name: *//p'), $(java -version 2>&1 | head -1); load: $(cut -d' ' -f1-3 /proc/loadavg); date: $(date -u +%Y-%m-%dT%H:%MZ)"
java -Xmx8g ${JAVA_OPTS:-} -cp "dist/refinery.jar:dist/plugins/refinery-plugin-quantize.jar" -Drefinery.log.level=ERROR \
  bench/ZooQuantization.java "$zoo" "$@"
