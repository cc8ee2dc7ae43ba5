#!/usr/bin/env bash
# Every bundled ONNX transform on real architectures exported by torch, through `refinery optimize` as a user
# runs it: kept (with SQNR against the original, size and latency ratios, from the job's own evaluation) or
# refused (the one-line reason: exit 2 for what a step cannot take, exit 1 "error: gate ..." for a result the
# default latency gate or fidelity floor refused, with its measured SQNR from the report); anything else (another
# exit code, a message of more than one line, internal exception text) is counted as broken, a dead JVM as crashed.
# Usage: bench/real-architectures.sh ZOO [GLOB]
#   ZOO: a folder written by `/usr/bin/python3 bench/zoo/export_zoo.py ZOO [--tiny]`; GLOB picks the files
#   (default '*-op13-fixed.onnx *-op17-dynamic.onnx'). PIPELINES overrides the pipelines (';'-separated).
# Needs `mvn -B package -DskipTests` first. Writes ZOO/sweep.tsv (or ZOO/$SWEEP_NAME.tsv) and prints docs/benchmarks.md's table.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/refinery.jar ] || { echo "bench/real-architectures.sh: run 'mvn -B package -DskipTests' first" >&2; exit 2; }
[ $# -ge 1 ] && [ -d "$1" ] || { echo "usage: bench/real-architectures.sh ZOO [GLOB]" >&2; exit 2; }
zoo=$(cd "$1" && pwd); globs=${2:-'*-op13-fixed.onnx *-op17-dynamic.onnx'}
IFS=';' read -r -a pipelines <<< "${PIPELINES:-graph-optimize;opset(target=21);fp16;quantize-dynamic;quantize-static;prune(sparsity=0.5);clip;distill}"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
out="$zoo/${SWEEP_NAME:-sweep}.tsv"
printf 'model\tpipeline\texit\tseconds\treport\tmessage\n' > "$out"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(lscpu | sed -n 's/^Model name: *//p'); load: $(cut -d' ' -f1-3 /proc/loadavg); date: $(date -u +%Y-%m-%dT%H:%MZ)" >&2
for dir in "$zoo"/*/; do
  for glob in $globs; do
    for model in "$dir"$glob; do
      [ -f "$model" ] || continue
      for pipeline in "${pipelines[@]}"; do
        report="$work/report.json"; rm -f "$report"
        start=$(date +%s.%N)
        set +e
        java -jar dist/refinery.jar optimize "$model" -o "$work/out.onnx" --pipeline "$pipeline" \
          --calibration "$dir/calibration.npz" --eval "$dir/eval.npz" --report "$report" \
          > "$work/stdout" 2> "$work/stderr"
        code=$?
        set -e
        seconds=$(echo "$(date +%s.%N) - $start" | bc)
        # The message: stderr without the progress lines ([1/2] step ... done, evaluation ... done).
        message=$({ grep -Ev '^\[[0-9]+/[0-9]+\] |^[^ ]+ \.\.\. ' "$work/stderr" || true; } | tr '\t' ' ' | awk '{printf "%s\\n", $0}')
        json=$( [ -f "$report" ] && tr -d '\n\t' < "$report" || echo '')
        printf '%s\t%s\t%s\t%.1f\t%s\t%s\n' "${model#$zoo/}" "$pipeline" "$code" "$seconds" "$json" "$message" >> "$out"
        echo "${model#$zoo/} $pipeline: exit $code" >&2
      done
    done
  done
done
python3 bench/real_architectures_table.py "$out"
