#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan, UBSan) and runs one for a bounded time on a copy
# of its seed corpus. A crash, a sanitizer report or a leak fails the test.
#   tests/fuzz/run_fuzz.sh SOURCE_DIR BUILD_DIR TARGET SECONDS
set -euo pipefail
src=$1
build=$2
target=$3
secs=$4
CC=clang cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSM_FUZZ=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target "$target" >/dev/null
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
seeds=$src/tests/fuzz/corpus/${target#fuzz_}
[ -d "$seeds" ] && cp "$seeds"/* "$corpus"/
n0=$(ls "$corpus" | wc -l)
"$build/tests/$target" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
    -print_final_stats=1 "$corpus" 2>&1 | tail -n 15
echo "$target: $n0 seeds, $(ls "$corpus" | wc -l) inputs in the corpus after ${secs}s"
