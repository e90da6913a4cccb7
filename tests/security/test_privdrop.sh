#!/usr/bin/env bash
# Least privilege: a live agent started as root opens its capture and reads its keys, then
# runs as nobody with empty capability sets and no_new_privs, and keeps capturing: a SYN sent
# after the drop still becomes a record.
#   tests/security/test_privdrop.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
ns=smpd$$
tmp=$(mktemp -d)
chmod 711 "$tmp"
cleanup() {
    kill $(jobs -p) 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    ip netns del "$ns-peer" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns"
ip netns add "$ns-peer"
ip -n "$ns" link set lo up
ip -n "$ns" link add pda type veth peer name pdb netns "$ns-peer"
ip -n "$ns" addr add 198.18.9.1/24 dev pda
ip -n "$ns-peer" addr add 198.18.9.2/24 dev pdb
ip -n "$ns" link set pda up
ip -n "$ns-peer" link set pdb up
cd "$tmp"
"$build/synmatch" keygen collector >/dev/null
"$build/synmatch" keygen agent >/dev/null
"$build/tests/sm_pull_dump" "ipc://$tmp/sink.sock" >dump.txt 2>dump.err &
sleep 0.3
ip netns exec "$ns" "$build/synmatch-agent" -i pda --role client --sensor-id c1 \
    --collector "ipc://$tmp/sink.sock" 2>agent.err &
apid=$!
sleep 1
fail=0
st=/proc/$apid/status
uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "$st")
gids=$(awk '/^Gid:/ {print $2, $3, $4, $5}' "$st")
nobody=$(id -u nobody)
[ "$uids" = "$nobody $nobody $nobody $nobody" ] && echo "ok   uids: $uids (nobody)" || { echo "FAIL uids: $uids"; fail=1; }
[ "$(awk '/^Groups:/ {print NF}' "$st")" = 1 ] && echo "ok   no supplementary groups (gids $gids)" || { echo "FAIL groups: $(grep ^Groups "$st")"; fail=1; }
for c in CapInh CapPrm CapEff CapAmb; do
    v=$(awk -v k="$c:" '$1 == k {print $2}' "$st")
    [ "$v" = 0000000000000000 ] && echo "ok   $c empty" || { echo "FAIL $c $v"; fail=1; }
done
[ "$(awk '/^NoNewPrivs:/ {print $2}' "$st")" = 1 ] && echo "ok   no_new_privs" || { echo "FAIL no_new_privs"; fail=1; }
# Still capturing: a SYN (to a closed port: the RST comes back too) after the drop.
ip netns exec "$ns" /usr/bin/python3 -c '
import socket
s = socket.socket(); s.settimeout(1)
try: s.connect(("198.18.9.2", 9))
except OSError: pass' || true
sleep 0.5
kill -TERM "$apid"
wait "$apid" || true
grep -Eq '^R .* 198\.18\.9\.1 [0-9]+ 198\.18\.9\.2 9 ' dump.txt && echo "ok   a SYN sent after the drop was captured" || { echo "FAIL no record after the drop"; cat agent.err; fail=1; }
exit "$fail"
