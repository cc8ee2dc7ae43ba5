#!/usr/bin/env bash
# ONNX's own backend test models (Debian's libonnx-testdata) through graph-optimize(level=basic),
# opset(target=21) and fp16, each checked against the expected outputs the tests ship: counts of kept,
# refused (and why), failed by the host's output check, broken and crashed, as Markdown.
# Needs dist/ (mvn -B package -DskipTests -pl distribution -am) and libonnx-testdata (installed when missing;
# needs root). A native crash ends the JVM: the sweep starts it again and records the model in progress.
# Usage: bench/onnx-conformance.sh [RESULTS.tsv [FOLDER...]]
#   (default folders: node, pytorch-converted, pytorch-operator and simple of /usr/share/libonnx-testdata/data)
set -euo pipefail
cd "$(dirname "$0")/.."
results=${1:-target/onnx-conformance.tsv}
shift || true
data=/usr/share/libonnx-testdata/data
folders=("$@")
[ ${#folders[@]} -gt 0 ] || folders=("$data/node" "$data/pytorch-converted" "$data/pytorch-operator" "$data/simple")
for jar in dist/refinery.jar dist/plugins/refinery-plugin-graph-optimize.jar dist/plugins/refinery-plugin-opset.jar \
    dist/plugins/refinery-plugin-fp16.jar; do
  [ -f "$jar" ] || { echo "bench/onnx-conformance.sh: run 'mvn -B package -DskipTests -pl distribution -am' first" >&2; exit 2; }
done
if [ ! -d "$data" ]; then
  echo "installing libonnx-testdata (Debian package)" >&2
  apt-get update -qq && apt-get install -y -qq libonnx-testdata >/dev/null
fi
mkdir -p "$(dirname "$results")"
cp="dist/refinery.jar:dist/plugins/refinery-plugin-graph-optimize.jar:dist/plugins/refinery-plugin-opset.jar:dist/plugins/refinery-plugin-fp16.jar"
for attempt in $(seq 1 200); do
  status=0
  java -Xmx2g -XX:-CreateCoredumpOnCrash -Drefinery.log.level=OFF -cp "$cp" bench/OnnxConformance.java "$results" \
      "${folders[@]}" > /dev/null 2> "$results.stderr" || status=$?
  [ "$status" -eq 0 ] && break
  if [ "$status" -le 128 ]; then # not a signal: the sweep itself failed
    tail -5 "$results.stderr" >&2; exit 1
  fi
  echo "restarting after a crash (signal $((status - 128)), attempt $attempt)" >&2
done
rm -f hs_err_pid*.log
echo "machine: $(nproc) cores, $(java -version 2>&1 | head -1); date: $(date -u +%Y-%m-%dT%H:%MZ)"
awk -F'\t' '
  $1 == "start" { next }
  $2 == "original" { models++; if ($3 == "ref-ok") ok++; else excluded[$4 == "" ? $3 : substr($4, 1, 60)]++; next }
  { n[$2, $3]++; if ($3 != "kept") { r = $4; sub(/ONNX Runtime cannot open the model: (This is an invalid model\. )?/, "", r); gsub(/\047[^\047]*\047/, "\047.\047", r); gsub(/[0-9.e+-]+, expected [0-9.e+-]+/, "N, expected M", r); reason[$2 "\t" $3 "\t" substr(r, 1, 200)]++ } }
  END {
    printf "%d models; ONNX Runtime itself runs %d of them correctly (the rest are left out)\n\n", models, ok
    print "| pipeline | kept | refused | failed by the output check | broken | crashed | internal error |"
    print "|---|---|---|---|---|---|---|"
    split("graph-optimize(level=basic)|opset(target=21)|fp16", p, "|")
    for (i = 1; i <= 3; i++)
      printf "| `%s` | %d | %d | %d | %d | %d | %d |\n", p[i], n[p[i], "kept"], n[p[i], "refused"], n[p[i], "step-failed"],
        n[p[i], "broken"], n[p[i], "crashed"], n[p[i], "internal-error"]
    print ""
    for (r in reason) print reason[r] "\t" r | "sort -t\"\t\" -k2,2 -k1,1nr"
  }' "$results"
