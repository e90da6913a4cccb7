#!/usr/bin/env bash
# The built-in demo: sets everything up, records real Linux TCP traffic through a firewall
# that drops some SYNs (client, firewall and server network namespaces, tcpdump at both
# ends), then runs `synmatch compare` on the two captures.
#
#   sudo scripts/demo-offline.sh [--nat] [OUTDIR]
#
# The captures stay in OUTDIR (default: a new directory under /tmp) for you to open in
# Wireshark. Everything the demo creates in the network is removed on exit, also on Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
nat=()
out=""
for a in "$@"; do
    case "$a" in
        --nat) nat=(--nat) ;;
        -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
        *) out=$a ;;
    esac
done
if [ "$(id -u)" != 0 ]; then
    echo "demo.sh: needs root (network namespaces, packet capture)" >&2
    exit 1
fi
"$root/scripts/setup.sh" "$root/build"
out=${out:-$(mktemp -d /tmp/synmatch-demo.XXXXXX)}

echo
echo "== Recording real traffic: client -> firewall (drops SYNs to port 8081) -> server ${nat[*]}"
"$root/tests/netns/record_pair.sh" "${nat[@]}" "$out" >"$out/record.log" 2>&1 || {
    cat "$out/record.log" >&2
    exit 1
}
sed -n 's/^\(conn_[a-z]*\|dropped_[a-z_]*\) /  \1 = /p' "$out/summary.txt"
echo
echo "== synmatch compare $out/client.pcap $out/server.pcap"
echo
rc=0
"$root/build/synmatch" compare "$out/client.pcap" "$out/server.pcap" || rc=$?
echo
echo "== exit status $rc (1 = missing SYNs found). The firewall's own count of dropped SYNs:"
sed 's/^/  /' "$out/nft_counters.txt"
echo "Captures kept in $out"
