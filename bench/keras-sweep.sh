#!/usr/bin/env bash
# keras-to-onnx over a folder of Keras files (.h5, .keras; default: the test fixtures, which carry NumPy
# references): converted, refused and why, failed, and the largest difference of each converted model's
# outputs to <stem>_reference.npz beside it, per family (the Keras version that wrote the file).
# Usage: mvn -B -q package -DskipTests && bench/keras-sweep.sh [FOLDER]
set -euo pipefail
cd "$(dirname "$0")/.."
tests_jar=$(ls host/target/refinery-host-*-tests.jar 2>/dev/null | head -1)
[ -f dist/refinery.jar ] && [ -n "$tests_jar" ] || { echo "bench/keras-sweep.sh: run 'mvn -B -q package -DskipTests' first" >&2; exit 2; }
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(java -version 2>&1 | head -1); date: $(date -u +%Y-%m-%dT%H:%MZ)"
java -cp "dist/refinery.jar:$tests_jar" bench/KerasSweep.java "${1:-plugins/keras/src/test/fixtures}"
