#!/usr/bin/env bash
# Events per minute and event-to-outcome latency of the service at 1 and 2 workers, beside the CLI's
# per-model cost and the whole `optimize` command, measured in one run. Usage: bench/event-throughput.sh [EVENTS] [PIPELINE]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/refinery.jar ] || { echo "bench/event-throughput.sh: dist/refinery.jar missing; run 'mvn -B package -DskipTests' first" >&2; exit 2; }
events=${1:-60}
pipeline=${2:-fp16}
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(java -version 2>&1 | head -1)"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ), events: $events, pipeline: $pipeline"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s%N)
java -jar dist/refinery.jar optimize samples/seed_cnn_binary.onnx -o "$work/out.onnx" --pipeline "$pipeline" --device cpu >/dev/null 2>&1
end=$(date +%s%N)
echo
echo "| run | pipeline | throughput | per model | latency p50 | latency p95 |"
echo "|---|---|---|---|---|---|"
command_ms=$(( (end - start) / 1000000 ))
echo "| \`java -jar refinery.jar optimize\` (JVM, framework, one model) | $pipeline | | $command_ms ms/model | | |"
java -Drefinery.log.level=ERROR -cp dist/refinery.jar bench/EventThroughput.java "$events" "$pipeline" "$command_ms"
