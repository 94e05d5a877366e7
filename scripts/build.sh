#!/bin/sh
# Configures (once) and builds one of keel's build trees:
#   build        the normal tree: -O2 -g, -Werror
#   build-asan   the same code under AddressSanitizer + UBSan
#   build-fuzz   clang with libFuzzer-linked fuzz targets (+ ASan/UBSan)
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build}
if [ ! -f "$dir/build.ninja" ]; then
    case "$dir" in
    build) meson setup "$dir" >/dev/null ;;
    build-asan) meson setup "$dir" -Db_sanitize=address,undefined -Db_lundef=false >/dev/null ;;
    build-fuzz) CC=clang meson setup "$dir" -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false >/dev/null ;;
    *) echo "build.sh: unknown build tree $dir" >&2; exit 2 ;;
    esac
fi
ninja -C "$dir" >/dev/null || ninja -C "$dir"
