#!/usr/bin/env bash
# Builds synmatch with clang, AddressSanitizer and UndefinedBehaviorSanitizer in its own tree
# and runs the unit, golden and parity tests there. Any sanitizer report fails the test.
#   tests/sanitize/run.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export SM_SANITIZED=1 # tests that bound peak RSS leave that one check to the plain build
CC=clang cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DSM_SANITIZE=ON -DSM_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
ctest --test-dir "$build" --output-on-failure -L 'unit|golden|parity' -LE 'sanitize|fuzz'
