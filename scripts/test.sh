#!/usr/bin/env bash
# Sets everything up and runs the whole test suite (unit, golden, tshark parity, real traffic
# in network namespaces, the ASan+UBSan build, the decoder fuzzer). Ends with ctest's summary.
#
#   sudo scripts/test.sh [ctest arguments...]      e.g. sudo scripts/test.sh -L unit
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build

if [ "$(id -u)" != 0 ]; then
    echo "test.sh: the suite makes network namespaces and captures packets: run it as root" >&2
    exit 1
fi
"$root/scripts/setup.sh" "$build"
cd "$build"
exec ctest --output-on-failure --timeout 900 "$@"
