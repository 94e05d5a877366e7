#!/bin/sh
# Runs one libFuzzer target for a bounded time: new inputs go to a scratch
# directory, the checked-in seed corpus is only read.
# usage: run_fuzz.sh TARGET SEED_DIR SECONDS [DICT]
set -eu
target=$1 seeds=$2 seconds=$3 dict=${4:-}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
set -- -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="${FUZZ_ARTIFACTS:-$scratch/}"
[ -n "$dict" ] && set -- "$@" -dict="$dict"
"$target" "$@" "$scratch" "$seeds"
