#!/usr/bin/env bash
# soak.sh - the long soak of issue 4 (test 10): 10 minutes of steady real connections with
# the collector and both agents SIGKILLed and restarted at random every 30-90 s; the test
# suite runs the same script for 60 s with restarts every 10-20 s (tests/netns/test_soak.sh).
#   bench/soak.sh [BUILD_DIR] [DURATION_S] [MIN_S] [MAX_S]      (root; namespaces)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec "$root/tests/netns/test_soak.sh" "${1:-$root/build}" "${2:-600}" "${3:-30}" "${4:-90}"
