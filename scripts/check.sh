#!/bin/sh
# `make check`: builds the three trees and runs every test in them (unit,
# differential, interop; fuzz smoke runs in build-fuzz), then prints one
# summary line "N passed, N failed, N skipped". Exit status 0 only when
# nothing failed.
set -u
cd "$(dirname "$0")/.."
status=0
broken=""
for tree in build build-asan build-fuzz; do
    if ! scripts/build.sh "$tree"; then
        echo "check: build of $tree failed" >&2
        status=1
        broken="$broken $tree"
    fi
done
run() {
    tree=$1; shift
    [ -f "$tree/build.ninja" ] || return 0
    echo "== meson test -C $tree $*"
    meson test -C "$tree" --print-errorlogs --num-processes 2 "$@" || status=1
}
run build
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run build-asan --timeout-multiplier 3
run build-fuzz --suite fuzz
/usr/bin/python3 scripts/summarize.py --broken "$broken" build build-asan build-fuzz || status=1
exit $status
