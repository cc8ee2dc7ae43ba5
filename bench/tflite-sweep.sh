#!/usr/bin/env bash
# Converts every .tflite file of a folder with tflite-to-onnx and checks each converted model against ArmNN's
# TFLite runtime on the same random inputs: a Markdown table of converted / refused (and why) / agreement.
# Needs dist/ (mvn -B package -DskipTests -pl distribution -am) and Debian's python3-pyarmnn,
# libarmnn-cpuref-backend22 and python3-numpy (installed here when missing; needs root).
# Usage: bench/tflite-sweep.sh [FOLDER]   (default: the converter's test fixtures)
set -euo pipefail
cd "$(dirname "$0")/.."
folder=${1:-plugins/tflite/src/test/fixtures/ops}
[ -f dist/refinery.jar ] && [ -f dist/plugins/refinery-plugin-tflite.jar ] || {
  echo "bench/tflite-sweep.sh: run 'mvn -B package -DskipTests -pl distribution -am' first" >&2; exit 2; }
if ! /usr/bin/python3 -c 'import pyarmnn, numpy' 2>/dev/null; then
  echo "installing python3-pyarmnn, libarmnn-cpuref-backend22, python3-numpy (Debian packages)" >&2
  apt-get update -qq && apt-get install -y -qq python3-pyarmnn libarmnn-cpuref-backend22 python3-numpy >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(java -version 2>&1 | head -1); date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "folder: $folder ($(ls "$folder"/*.tflite | wc -l) files); reference: ArmNN $(dpkg-query -W -f '${Version}' libarmnn22 2>/dev/null) CpuRef"
# pyarmnn announces the parsers it lacks on every import: left out
/usr/bin/python3 bench/tflite_armnn_outputs.py "$folder" "$work" 2>&1 | { grep -v '^Your ArmNN' || true; } >&2
java -cp "dist/refinery.jar:dist/plugins/refinery-plugin-tflite.jar" -Drefinery.log.level=ERROR \
  bench/TfliteSweep.java "$folder" "$work"
