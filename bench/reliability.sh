#!/usr/bin/env bash
# The reliability suites at larger sizes than the build runs: generated hostile models, datasets, events and
# artifact URIs (CASES in all, default 10,000), and the crash-safety run (EVENTS events, KILLS SIGKILLs of the
# service plus one broker restart). Prints each suite's summary table; docs/reliability.md holds the last run.
# Usage: bench/reliability.sh [CASES] [EVENTS] [KILLS]
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-10000}"; events="${2:-200}"; kills="${3:-20}"
out="$(pwd)/target/reliability"
rm -rf "$out"; mkdir -p "$out"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(java -version 2>&1 | head -1); date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "command: bench/reliability.sh $cases $events $kills"
mvn -B -q install -DskipTests
mvn -B -q -pl host surefire:test -Dtest='HostileModelTest,HostileDataTest,HostileEventTest' \
  -Drefinery.fuzz.cases="$cases" -Drefinery.reliability.dir="$out"
mvn -B -q -pl distribution failsafe:integration-test failsafe:verify -Dit.test=CrashSafetyIT \
  -Drefinery.crash.events="$events" -Drefinery.crash.kills="$kills" -Drefinery.reliability.dir="$out"
for f in "$out"/*.md; do echo; echo "## $(basename "$f" .md)"; cat "$f"; done
