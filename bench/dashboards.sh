#!/usr/bin/env bash
# Checks the Grafana dashboards against a real Prometheus: two `refinery serve` instances (the first with
# the embedded broker, the second joining its consumer group) are fed registrations, some of which fail
# or fail a quality gate; Debian's prometheus scrapes both every 2 s; then every panel expression and
# variable query of dashboards/*.json runs through Prometheus's HTTP API and must return series.
# `promtool check config` runs on the generated config and on deploy/prometheus/prometheus.yml, and
# `promtool test rules` on the alerting rules' unit tests; the rules must evaluate on the live data too.
# Usage: bench/dashboards.sh [EVENTS]   (EVENTS optimizing registrations 1.5 s apart, default 24, plus one failing
# registration per four; installs prometheus with apt)
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-24}
kafka_port=${KAFKA_PORT:-29092}
http_a=${HTTP_PORT_A:-28080}
http_b=${HTTP_PORT_B:-28081}
prom_port=${PROMETHEUS_PORT:-29090}

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
[ -f dist/refinery.jar ] || mvn -B -q package -DskipTests

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(java -version 2>&1 | head -1)"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ), $(prometheus --version 2>&1 | head -1)"

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

await_health() { # URL SECONDS
  for _ in $(seq "$2"); do
    curl -sf "$1/health" >/dev/null && return 0
    sleep 1
  done
  echo "bench/dashboards.sh: $1 not healthy after $2 s" >&2
  return 1
}

mkdir -p "$work/inbox"
cp samples/seed_cnn_binary.onnx "$work/inbox/seed.onnx"
common=(--artifact-root "$work/inbox" --partitions 4 --workers 1 --device cpu)
java -Xmx1g -jar dist/refinery.jar serve --kafka-port "$kafka_port" --http-port "$http_a" --data-dir "$work/a" \
  "${common[@]}" >"$work/a.log" 2>&1 &
pids+=($!)
await_health "http://127.0.0.1:$http_a" 120
java -Xmx1g -jar dist/refinery.jar serve --bootstrap-servers "127.0.0.1:$kafka_port" --http-port "$http_b" \
  --data-dir "$work/b" "${common[@]}" >"$work/b.log" 2>&1 &
pids+=($!)
await_health "http://127.0.0.1:$http_b" 120

cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 2s
  evaluation_interval: 2s
rule_files:
  - $(pwd)/deploy/prometheus/alerts.yml
scrape_configs:
  - job_name: refinery
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:$http_a", "127.0.0.1:$http_b"]
EOF
promtool check config "$work/prometheus.yml"
promtool check config deploy/prometheus/prometheus.yml
(cd deploy/prometheus && promtool test rules alerts.test.yml)
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)
for _ in $(seq 60); do curl -sf "http://127.0.0.1:$prom_port/-/ready" >/dev/null && break; sleep 1; done

register() { # NAME VERSION URI PIPELINE
  curl -sf -o /dev/null -X POST "http://127.0.0.1:$http_a/models" -H 'content-type: application/json' \
    -d "{\"name\":\"$1\",\"version\":\"$2\",\"uri\":\"$3\",\"pipeline\":\"$4\"}"
}
model="file://$work/inbox/seed.onnx"
pipelines=(fp16 graph-optimize quantize-dynamic)
expected=0
# Spread over time, so that Prometheus sees every counter rise after its first scrape (rate() and
# increase() ignore a series' first value). Every fourth step also registers one that fails: a missing
# file (stage fetch), an unknown transform (stage pipeline), a result over its quality gate (stage gate).
for i in $(seq "$events"); do
  register "cnn-$i" "1" "$model" "${pipelines[$((i % 3))]}"
  expected=$((expected + 1))
  if [ $((i % 4)) -eq 0 ]; then
    case $(( (i / 4) % 3 )) in
      1) register "ghost-$i" 1 "file://$work/inbox/missing.onnx" fp16 ;;
      2) register "cnn-unknown-$i" 1 "$model" no-such-transform ;;
      0) register "cnn-gated-$i" 1 "$model" "fp16,gate(max-latency-ratio=0.001)" ;;
    esac
    expected=$((expected + 1))
  fi
  sleep "${INTERVAL:-1.5}"
done

query() { curl -sf "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1"; }
value() { query "$1" | sed -n 's/.*"value":\[[^,]*,"\([0-9.]*\)"\].*/\1/p'; } # one-series result, as an integer
for _ in $(seq 300); do
  done_jobs=$(value 'sum(refinery_jobs_total)')
  [ "${done_jobs:-0}" -ge "$expected" ] 2>/dev/null && break
  sleep 1
done
sleep 6 # a few more scrapes after the last job
echo "jobs by instance and outcome:"
query 'sum by (instance, outcome) (refinery_jobs_total)' \
  | grep -o '"instance":"[^"]*","outcome":"[^"]*"},"value":\[[^]]*\]' | sed 's/"value":\[[^,]*,/ /; s/[]"{}]//g'
# The two instances shared the work, and no registration was processed twice.
done_jobs=$(value 'sum(refinery_jobs_total)')
working=$(value 'count(sum by (instance) (refinery_jobs_total{outcome!="duplicate"}) > 0)')
duplicates=$(value 'sum(refinery_jobs_total{outcome="duplicate"}) or vector(0)')
echo "jobs: $done_jobs of $expected registrations, instances that worked: $working, duplicates: $duplicates"
status=0
[ "$done_jobs" = "$expected" ] && [ "$working" = 2 ] && [ "$duplicates" = 0 ] || status=1
# The alerting rules evaluate on live data without errors.
rules=$(curl -sf "http://127.0.0.1:$prom_port/api/v1/rules")
rules_ok=$(grep -o '"health":"ok"' <<<"$rules" | wc -l)
rules_total=$(grep -o '"health":"[a-z]*"' <<<"$rules" | wc -l)
echo "alerting rules evaluated: $rules_ok of $rules_total healthy"
[ "$rules_total" -gt 0 ] && [ "$rules_ok" = "$rules_total" ] || status=1
java -cp dist/refinery.jar bench/DashboardCheck.java "http://127.0.0.1:$prom_port" dashboards/*.json || status=1
exit $status
