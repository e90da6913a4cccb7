#!/usr/bin/env bash
# Configuration files (--config, --check-config) of synmatch-agent and synmatch-collector.
#
#   1. Every option of each program's getopt table (read from its main.c, so an option added
#      there is tested at once, or this test fails until SAMPLE below has a value for it)
#      round-trips: `--check-config` with the option on the command line prints the same as
#      with it in a file, and that output, given back as the file, prints itself again.
#   2. All options at once, repeatable ones repeated, in one file: the same round trip.
#   3. The command line wins: a key it names replaces every line of that key in the file.
#   4. Malformed files: unknown key, bad value, flag not true/false, empty value, a key that
#      cannot be in a file, a line without '=', a missing file, a directory, binary garbage
#      (an executable and random bytes), a line over 4096 bytes, /dev/zero: each exits 10
#      with exactly one line on stderr naming the file, and the line and key where there is one.
#
#   tests/golden/test_config.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() {
    echo "FAIL $*"
    fail=$((fail + 1))
}

# A valid value for each option (a flag: true). Add one here when a program gets an option.
declare -A SAMPLE=(
    # synmatch-agent
    [agent:interface]=eth0 [agent:read]=/tmp/capture.pcap [agent:role]=server
    [agent:sensor-id]=web-1.example:a@b [agent:collector]=tcp://198.18.0.100:7400
    [agent:serve]=198.18.0.0/24:443 [agent:realtime]=true [agent:batch-records]=100
    [agent:heartbeat-ms]=250 [agent:buffer-size]=64 [agent:snaplen]=128
    [agent:no-promisc]=true [agent:queue]=50 [agent:linger-ms]=300
    [agent:key]=/etc/synmatch/keys/a.key [agent:user]=daemon
    [agent:server-key]=/etc/synmatch/keys/collector.pub [agent:quiet]=true
    [agent:filter]="tcp port 443 and not host 198.18.0.7" [agent:partitions]=8
    [agent:nats-creds]=/etc/synmatch/nats/agent.creds [agent:nats-ca]=/etc/synmatch/nats/ca.pem
    [agent:nats-cert]=/etc/synmatch/nats/agent.pem [agent:nats-key]=/etc/synmatch/nats/agent.key
    # synmatch-collector
    [collector:listen]=tcp://0.0.0.0:7400 [collector:output]=/var/log/synmatch/v.jsonl
    [collector:alerts-pub]=tcp://127.0.0.1:7401 [collector:timeout]=2.5
    [collector:max-skew]=0.25 [collector:no-clock-correction]=true
    [collector:sensor-timeout]=3 [collector:max-pending]=5000 [collector:stats]=0
    [collector:exit-when-done]=true [collector:key]=/etc/synmatch/keys/c.key
    [collector:allow]=/etc/synmatch/agents.allow [collector:alerts-allow]=/etc/synmatch/subs.allow
    [collector:insecure]=true [collector:shard]=1/4 [collector:partitions]=16
    [collector:nats-setup]=true [collector:nats-replicas]=3 [collector:nats-max-age]=7200
    [collector:nats-max-bytes]=1000000000 [collector:nats-replay]=240
    [collector:nats-creds]=/etc/synmatch/nats/c.creds [collector:nats-ca]=/etc/synmatch/nats/ca.pem
    [collector:nats-cert]=/etc/synmatch/nats/c.pem [collector:nats-key]=/etc/synmatch/nats/c.key
    [collector:community-id-seed]=7
    [collector:health-interval]=5 [collector:health-services]=20 [collector:degraded-share]=2.5
    [collector:degraded-window]=20 [collector:degraded-min]=50 [collector:flood-floor]=2500
    [collector:pub-limit]=40 [collector:metrics-listen]=[::1]:9400
    [agent:metrics-listen]=127.0.0.1:9401
)
# Options that are not settings: they choose the file or end the program at once.
not_setting() { case $1 in config | check-config | help | version) return 0 ;; esac; return 1; }

# The long options of a program: NAME HAS_ARG (no|required|optional) per line, from main.c.
options_of() {
    /usr/bin/python3 - "$1" <<'PY'
import re, sys
for m in re.finditer(r'\{\s*"([a-z0-9-]+)"\s*,\s*(no|required|optional)_argument', open(sys.argv[1]).read()):
    print(m.group(1), m.group(2))
PY
}

# The minimal settings each program needs, as arguments; without those the option replaces.
base_args() { # PROGRAM OPTION
    case $1 in
        agent)
            case $2 in
                read | realtime) echo "--read /tmp/c.pcap" ;;
                *) echo "--interface eth0" ;;
            esac
            [ "$2" = role ] || echo "--role client"
            [ "$2" = sensor-id ] || echo "--sensor-id s1"
            [ "$2" = collector ] || echo "--collector ipc:///run/synmatch/collector.sock"
            ;;
        collector)
            case $2 in
                listen) ;;
                shard | partitions | nats-*) echo "--listen nats://198.18.0.5:4222" ;;
                *) echo "--listen ipc:///run/synmatch/collector.sock" ;;
            esac
            # a client certificate is a pair
            [ "$2" = nats-cert ] && echo "--nats-key /etc/synmatch/nats/c.key"
            [ "$2" = nats-key ] && echo "--nats-cert /etc/synmatch/nats/c.pem"
            ;;
    esac
}

# Runs PROGRAM --check-config ARGS..., output to FILE; a failure is reported with its stderr.
check_config() { # NAME OUTFILE PROGRAM ARGS...
    local name=$1 outf=$2 prog=$3 rc=0
    shift 3
    "$build/synmatch-$prog" --check-config "$@" >"$outf" 2>"$tmp/err" || rc=$?
    if [ "$rc" -ne 0 ]; then
        bad "$name: exit $rc: $(head -3 "$tmp/err")"
        return 1
    fi
}

# ---- 1. each option alone ------------------------------------------------------------------
for prog in agent collector; do
    n=0
    while read -r opt has; do
        not_setting "$opt" && continue
        key=$prog:$opt
        if [ -z "${SAMPLE[$key]+x}" ]; then
            bad "synmatch-$prog --$opt: no sample value in tests/golden/test_config.sh (SAMPLE)"
            continue
        fi
        val=${SAMPLE[$key]}
        mapfile -t base < <(base_args "$prog" "$opt")
        args=()
        for b in "${base[@]}"; do args+=($b); done  # "--key value": split on purpose
        : >"$tmp/in.conf"
        for b in "${base[@]}"; do
            k=${b%% *} && echo "${k#--} = ${b#* }" >>"$tmp/in.conf"
        done
        if [ "$has" = no ]; then
            clia=("${args[@]}" "--$opt")
        else
            clia=("${args[@]}" "--$opt" "$val")
        fi
        echo "$opt = $val" >>"$tmp/in.conf"
        check_config "--$opt on the command line" "$tmp/cli.out" "$prog" "${clia[@]}" || continue
        check_config "--$opt in a file" "$tmp/file.out" "$prog" --config "$tmp/in.conf" || continue
        check_config "--$opt printed, read back" "$tmp/again.out" "$prog" --config "$tmp/cli.out" || continue
        if ! grep -qxF "$opt = $val" "$tmp/cli.out"; then
            bad "synmatch-$prog --$opt: '$opt = $val' not printed:"; cat "$tmp/cli.out"
        elif ! cmp -s "$tmp/cli.out" "$tmp/file.out"; then
            bad "synmatch-$prog --$opt: file and command line differ:"; diff "$tmp/cli.out" "$tmp/file.out" || true
        elif ! cmp -s "$tmp/cli.out" "$tmp/again.out"; then
            bad "synmatch-$prog --$opt: printed settings read back differ:"; diff "$tmp/cli.out" "$tmp/again.out" || true
        else
            n=$((n + 1))
        fi
    done < <(options_of "$src/$prog/main.c")
    [ "$n" -gt 5 ] && ok "synmatch-$prog: $n options round-trip (command line = file = printed file)" ||
        bad "synmatch-$prog: only $n options round-tripped"
done

# ---- 2. everything at once, repeatable options repeated -------------------------------------
cat >"$tmp/all-agent.conf" <<EOF
# every setting of the agent
interface = eth0
role = server
sensor-id = all
collector = tcp://198.18.0.100:7400
serve = 198.18.0.10
serve = [2001:db8::1]:443
serve = 198.18.0.0/24:443
batch-records = 100
heartbeat-ms = 250
buffer-size = 64
snaplen = 128
no-promisc = true
queue = 50
linger-ms = 300
key = /etc/synmatch/keys/a.key
server-key = /etc/synmatch/keys/collector.pub
user = daemon
quiet = true
filter = tcp port 443
EOF
if check_config "agent, all settings" "$tmp/all1" agent --config "$tmp/all-agent.conf" &&
    check_config "agent, all settings read back" "$tmp/all2" agent --config "$tmp/all1"; then
    if cmp -s "$tmp/all1" "$tmp/all2" && [ "$(grep -c '^serve = ' "$tmp/all1")" = 3 ] &&
        [ "$(grep -vc '^#' "$tmp/all1")" = "$(grep -vc '^#' "$tmp/all-agent.conf")" ]; then
        ok "agent: all settings in one file, --serve three times, round-trip"
    else
        bad "agent: all settings:"; diff "$tmp/all-agent.conf" "$tmp/all1" || true
    fi
fi

# ---- 3. the command line wins ---------------------------------------------------------------
if check_config "command line over file" "$tmp/wins" agent --config "$tmp/all-agent.conf" \
    --role client --serve 198.18.5.5 --snaplen 200 'port 80'; then
    if grep -qx 'role = client' "$tmp/wins" && ! grep -q 'role = server' "$tmp/wins" &&
        [ "$(grep '^serve = ' "$tmp/wins")" = "serve = 198.18.5.5" ] &&
        grep -qx 'snaplen = 200' "$tmp/wins" && [ "$(grep '^filter = ' "$tmp/wins")" = "filter = port 80" ] &&
        grep -qx 'queue = 50' "$tmp/wins"; then
        ok "the command line wins (role, the serve list, snaplen, the expression); the file's other lines stay"
    else
        bad "command line over file:"; cat "$tmp/wins"
    fi
fi
printf 'listen = ipc:///x\ntimeout = 7\ntimeout = 8\n' >"$tmp/twice.conf"
if check_config "a key twice" "$tmp/twice" collector --config "$tmp/twice.conf"; then
    check_config "a key twice, command line" "$tmp/twice-cli" collector --listen ipc:///x --timeout 7 --timeout 8
    cmp -s "$tmp/twice" "$tmp/twice-cli" && ok "a key twice in a file: as twice on the command line" ||
        { bad "a key twice:"; diff "$tmp/twice" "$tmp/twice-cli" || true; }
fi

# ---- 4. malformed files ----------------------------------------------------------------------
# expect_config NAME PROGRAM FILE PATTERN: exit 10, one line, naming FILE and matching PATTERN.
expect_config() {
    local name=$1 prog=$2 file=$3 pattern=$4 rc=0
    "$build/synmatch-$prog" --config "$file" --check-config >"$tmp/out" 2>"$tmp/err" || rc=$?
    if [ "$rc" -eq 10 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -qF -- "$file" "$tmp/err" &&
        grep -Eq -- "$pattern" "$tmp/err" && [ ! -s "$tmp/out" ]; then
        ok "$name: exit 10: $(cut -c1-150 "$tmp/err")"
    else
        bad "$name: exit $rc, want 10 and one line naming $file and matching '$pattern':"
        head -c 600 "$tmp/err"
        echo
    fi
}
w() { printf '%b' "$2" >"$tmp/$1"; echo "$tmp/$1"; }
a_ok='interface = eth0\nrole = client\nsensor-id = s1\ncollector = ipc:///x\n'
expect_config "unknown key" agent "$(w unknown.conf "${a_ok}# a comment\n\n   colector = ipc:///y\n")" \
    ':7: colector: unknown key'
expect_config "bad number" agent "$(w snaplen.conf "${a_ok}snaplen = 12\n")" \
    ':5: snaplen: not a number from 64 to 262144: 12'
expect_config "bad role" agent "$(w role.conf "role = middle\n")" ':1: role: client or server, not middle'
expect_config "bad sensor id" agent "$(w sid.conf "${a_ok}sensor-id = a b\n")" ":5: sensor-id: sensor id 'a b'"
expect_config "bad --serve" agent "$(w serve.conf "${a_ok}serve = 198.18.0.300\n")" ':5: serve: .*198.18.0.300'
expect_config "bad seconds" collector "$(w secs.conf 'listen = ipc:///x\r\ntimeout = -1\r\n')" \
    ":2: timeout: not a positive number of seconds: '-1'"
expect_config "flag not true/false" collector "$(w flag.conf 'listen = ipc:///x\ninsecure = yes\n')" \
    ":2: insecure: true or false, not 'yes'"
expect_config "flag with a value" agent "$(w quiet.conf "${a_ok}quiet = 1\n")" ":5: quiet: true or false"
expect_config "empty value" collector "$(w empty.conf 'listen =   \n')" ':1: listen: needs a value'
expect_config "a file naming a file" agent "$(w nested.conf "${a_ok}config = /etc/x\n")" \
    ':5: config: not allowed in a configuration file'
expect_config "no '='" collector "$(w noeq.conf 'listen ipc:///x\n')" ":1: 'listen ipc:///x': not 'key = value'"
expect_config "no key" collector "$(w nokey.conf ' = 3\n')" ":1: no key before '='"
expect_config "missing file" collector "$tmp/does-not-exist.conf" 'No such file or directory'
mkdir "$tmp/dir.conf"
expect_config "a directory" agent "$tmp/dir.conf" 'is a directory'
expect_config "an executable" agent "$build/synmatch" ':1: (a NUL byte|control character)'
/usr/bin/python3 -c 'import random,sys; r=random.Random(14); sys.stdout.buffer.write(bytes(r.randrange(256) for _ in range(8192)))' >"$tmp/random.conf"
expect_config "random bytes" collector "$tmp/random.conf" ':[0-9]+: (a NUL byte|control character 0x[0-9a-f]{2}): not a text file'
expect_config "control character" collector "$(w ctl.conf 'listen = ipc:///x\x1b[31m\n')" \
    ':1: control character 0x1b: not a text file'
/usr/bin/python3 -c 'print("listen = ipc:///x"); print("# " + "x" * 5000)' >"$tmp/long.conf"
expect_config "a line over 4096 bytes" collector "$tmp/long.conf" ':2: line longer than 4096 bytes'
expect_config "/dev/zero" collector /dev/zero ':1: a NUL byte: not a text file'

# Bad values on the command line stay usage errors (2), and say nothing of a file.
rc=0
"$build/synmatch-agent" --check-config -i eth0 --role client --sensor-id s --collector ipc:///x \
    --snaplen 12 2>"$tmp/err" || rc=$?
[ "$rc" = 2 ] && grep -q '^synmatch-agent: --snaplen: not a number' "$tmp/err" &&
    ok "a bad value on the command line: exit 2, '$(cat "$tmp/err")'" ||
    bad "a bad value on the command line: exit $rc: $(cat "$tmp/err")"
rc=0
"$build/synmatch-collector" --config "$tmp/twice.conf" --config "$tmp/twice.conf" --check-config 2>"$tmp/err" || rc=$?
[ "$rc" = 2 ] && grep -q 'one file only' "$tmp/err" && ok "--config twice: exit 2" ||
    bad "--config twice: exit $rc: $(cat "$tmp/err")"

[ "$fail" -eq 0 ] && echo "all config checks passed" || echo "$fail config checks FAILED"
exit "$((fail > 0))"
