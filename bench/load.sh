#!/usr/bin/env bash
# A sustained stream of registrations into the service at a fixed rate, with the consumer lag and the
# heap recorded; the heap after a full collection before and after the run shows whether anything leaks.
# Usage: mvn -B package -DskipTests && bench/load.sh [EVENTS] [EVENTS_PER_SECOND] [PIPELINE]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/refinery.jar ] || { echo "bench/load.sh: dist/refinery.jar missing; run 'mvn -B package -DskipTests' first" >&2; exit 2; }
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(java -version 2>&1 | head -1); date: $(date -u +%Y-%m-%dT%H:%MZ)"
java -Xmx1g -Drefinery.log.level=WARN -cp dist/refinery.jar bench/LoadSoak.java "${1:-600}" "${2:-15}" "${3:-fp16}"
