#!/usr/bin/env bash
# Runs every bundled pipeline on the sample model through the CLI and prints a Markdown table of sizes
# and step times, for docs/benchmarks.md. Needs `mvn -B package -DskipTests` first.
set -euo pipefail
cd "$(dirname "$0")/.."
jar=dist/refinery.jar
model=samples/seed_cnn_binary.onnx
[ -f "$jar" ] || { echo "bench/sample-sizes.sh: $jar missing; run 'mvn -B package -DskipTests' first" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "| pipeline | bytes | zip bytes | zip vs baseline | step ms | command ms |"
echo "|---|---|---|---|---|---|"
for pipeline in "graph-optimize(level=basic)" "graph-optimize(level=extended)" "fp16" "graph-optimize(level=basic),fp16"; do
  start=$(date +%s%N)
  java -jar "$jar" optimize "$model" -o "$work/out.onnx" --pipeline "$pipeline" --device cpu --report "$work/r.json" >/dev/null 2>&1
  end=$(date +%s%N)
  python3 - "$work/r.json" "$pipeline" $(( (end - start) / 1000000 )) <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
i, o = r["input"], r["output"]
if sys.argv[2].startswith("graph-optimize(level=basic)") and "," not in sys.argv[2]:
    print(f"| baseline (input) | {i['bytes']:,} | {i['gzipBytes']:,} | | | |")
steps = sum(s["durationMs"] for s in r["steps"])
print(f"| `{sys.argv[2]}` | {o['bytes']:,} | {o['gzipBytes']:,} | {o['gzipBytes'] / i['gzipBytes']:.2f}x | {steps} | {sys.argv[3]} |")
PY
done
