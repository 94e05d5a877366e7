#!/bin/sh
# Long libFuzzer runs of every target in build-fuzz (see docs/fuzzing.md).
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET]
# Crashes are written to fuzz-artifacts/; add them to the target's corpus
# as regression inputs once fixed.
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-600}
mkdir -p fuzz-artifacts
status=0
for exe in build-fuzz/tests/fuzz/fuzz_*; do
    [ -x "$exe" ] || continue
    name=${exe##*/fuzz_}
    corpus=tests/fuzz/$name-corpus
    dict=tests/fuzz/$name.dict
    [ -f "$dict" ] || dict=""
    echo "== $name for ${seconds}s"
    FUZZ_ARTIFACTS=fuzz-artifacts/$name- tests/fuzz/run_fuzz.sh "$exe" "$corpus" "$seconds" "$dict" || status=1
done
exit $status
