#!/usr/bin/env bash
# Sets everything up and runs the whole test suite (unit, golden, tshark parity, real traffic
# in network namespaces, faults, security, the Debian package and its units, the ASan+UBSan
# build, the fuzzers). Ends with ctest's summary.
#
#   scripts/test.sh [ctest arguments...]      e.g. scripts/test.sh -L unit
#
# The whole suite makes network namespaces and captures packets: run it as root (it also
# installs the packages it needs). The labels unit, golden, parity, sanitize and fuzz need no
# root once the packages are installed: `scripts/test.sh -L 'unit|golden|parity'` as anyone.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build
unprivileged='^(unit|golden|parity|sanitize|fuzz|nats)$'

if [ "$(id -u)" != 0 ]; then
    label=
    prev=
    for a in "$@"; do
        [ "$prev" = -L ] && label=$a
        case $a in -L?*) label=${a#-L} ;; esac
        prev=$a
    done
    ok=${label:+yes}
    IFS='|' read -r -a wanted <<<"$label"
    for l in "${wanted[@]}"; do
        [[ $l =~ $unprivileged ]] || ok=
    done
    if [ -z "$ok" ]; then
        echo "test.sh: the suite makes network namespaces and captures packets: run it as root," >&2
        echo "test.sh: or choose labels that need no root: -L 'unit|golden|parity|sanitize|fuzz'" >&2
        exit 1
    fi
fi
"$root/scripts/setup.sh" "$build"
cd "$build"
exec ctest --output-on-failure --timeout 900 "$@"
