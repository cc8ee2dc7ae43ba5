#!/usr/bin/env bash
# auto on a full-size torchvision export: wall time of `optimize --pipeline auto(...)` with the zoo's calibration
# (128 samples) and evaluation (16) sets, against one plain float32 inference pass over the calibration samples
# timed in the same run, then a second run with a recipe memory (--state) as a new version would start.
# Usage: bench/auto-speed.sh ZOO [MODEL-FILE] [PIPELINE] [DIST...]
#   ZOO: a folder written by `/usr/bin/python3 bench/zoo/export_zoo.py ZOO --models mobilenet_v2 --samples 128`
#   MODEL-FILE: relative to ZOO (default mobilenet_v2/mobilenet_v2-op17-dynamic.onnx)
#   PIPELINE: default 'auto(objective=latency)'
#   DIST: distribution folders to compare, such as one built from an earlier commit with
#         `mvn -B package -DskipTests -Ddist.dir=/tmp/dist-before` (default: dist). -Dworkers=N via $WORKERS.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] && [ -d "$1" ] || { echo "usage: bench/auto-speed.sh ZOO [MODEL-FILE] [PIPELINE] [DIST...]" >&2; exit 2; }
zoo=$1
model=$zoo/${2:-mobilenet_v2/mobilenet_v2-op17-dynamic.onnx}
pipeline=${3:-auto(objective=latency)}
shift $(( $# < 3 ? $# : 3 ))
dists=("$@"); [ ${#dists[@]} -gt 0 ] || dists=(dist)
folder=$(dirname "$model")
[ -f "$model" ] && [ -f "$folder/calibration.npz" ] && [ -f "$folder/eval.npz" ] \
  || { echo "bench/auto-speed.sh: $model with calibration.npz and eval.npz next to it not found" >&2; exit 2; }
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(java -version 2>&1 | head -1); load: $(cut -d' ' -f1-3 /proc/loadavg); date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "model: $model; pipeline: $pipeline; workers: ${WORKERS:-1}"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
run() { # DIST LABEL [--state DIR]
  local dist=$1 label=$2; shift 2
  local start end
  start=$(date +%s.%N)
  java -jar "$dist/refinery.jar" optimize "$model" -o "$work/out.onnx" --pipeline "$pipeline" --device cpu \
    --calibration "$folder/calibration.npz" --eval "$folder/eval.npz" --workers "${WORKERS:-1}" \
    --report "$work/report.json" "$@" > "$work/stdout" 2> "$work/stderr" || true
  end=$(date +%s.%N)
  python3 - "$work/report.json" "$label" "$(echo "$end - $start" | bc)" <<'PY'
import json, sys
path, label, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
try:
    report = json.load(open(path))
except Exception:
    print(f"| {label} | {seconds:.0f} | (no report) | | |"); sys.exit()
chosen = next((c["pipeline"] for c in report.get("candidates") or [] if c["outcome"] == "chosen"), "none passed")
search = report.get("search")
summary = "" if search is None else ", ".join(f"{k} {v}" for k, v in search.items() if v is not None)
ratio = (report.get("evaluation") or {}).get("latency", {}) or {}
print(f"| {label} | {seconds:.0f} | {len(report.get('candidates') or [])} | {chosen} ({ratio.get('ratio', float('nan')):.2f}x latency) | {summary} |")
PY
}
pass=$(java -cp "${dists[0]}/refinery.jar" -Drefinery.log.level=ERROR bench/AutoSpeed.java "$model" "$folder/calibration.npz")
echo "one float32 inference pass over the calibration samples: ${pass} s"
echo "| build | seconds | candidates | chosen | search |"
echo "|---|---|---|---|---|"
for dist in "${dists[@]}"; do
  run "$dist" "$dist"
done
last=${dists[$((${#dists[@]} - 1))]}
run "$last" "$last, first version, --state" --state "$work/state"
# the next version: a file of the same name (optimize names the model after it), the same inputs
mkdir -p "$work/next" && cp "$model" "$work/next/"
model=$work/next/$(basename "$model") run "$last" "$last, next version, --state" --state "$work/state"
