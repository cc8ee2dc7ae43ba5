#!/usr/bin/env bash
# Weight-only 4- and 8-bit quantization (quantize-weights: RTN, GPTQ, HQQ) of the BERT-style encoder and the
# GPT-2-style decoder: size and output SQNR against float32, the worst layer's SQNR, latency at batch 1 against
# float32 timed in alternation in the same run (2 threads).
# Usage: bench/weight-quantization.sh ZOO [-Druns=N] [MODEL-FILE[=RECIPE;RECIPE...] ...]
#   ZOO: a folder written by `/usr/bin/python3 bench/zoo/export_zoo.py ZOO --models bert,gpt2` (each model's
#   folder holds its exports, calibration.npz and eval.npz). Without model arguments, both op17 exports.
# Needs `mvn -B package -DskipTests` first. -Druns=N sets the batch-1 pairs (default 40).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/refinery.jar ] && [ -f dist/plugins/refinery-plugin-quantize.jar ] \
  || { echo "bench/weight-quantization.sh: run 'mvn -B package -DskipTests' first" >&2; exit 2; }
[ $# -ge 1 ] && [ -d "$1" ] || { echo "usage: bench/weight-quantization.sh ZOO [MODEL-FILE[=RECIPES] ...]" >&2; exit 2; }
zoo=$1; shift
props=(); models=()
for a in "$@"; do case $a in -D*) props+=("$a");; *) models+=("$a");; esac; done
set -- ${models[@]+"${models[@]}"}
if [ $# -eq 0 ]; then
  set -- bert/bert-op17-dynamic.onnx gpt2/gpt2-op17-dynamic.onnx
fi
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(lscpu | sed -n 's/^Model name: *//p'), $(java -version 2>&1 | head -1); load: $(cut -d' ' -f1-3 /proc/loadavg); date: $(date -u +%Y-%m-%dT%H:%MZ)"
java -Xmx8g -cp "dist/refinery.jar:dist/plugins/refinery-plugin-quantize.jar" \
  -Drefinery.log.level=ERROR ${props[@]+"${props[@]}"} bench/WeightQuantization.java "$zoo" "$@"
