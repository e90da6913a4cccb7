#!/usr/bin/env bash
# loss_soak.sh - the long version of the random_loss test (issue 4, test 9): 1% random SYN
# loss on the firewall for DURATION seconds (default 600) with SYN probes at RATE per second
# plus real connections; recall and precision per ISN against tcpdump on both ends.
#   bench/loss_soak.sh [BUILD_DIR] [DURATION_S] [RATE]      (root; namespaces)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec "$root/tests/netns/test_random_loss.sh" "${1:-$root/build}" "${2:-600}" "${3:-400}"
