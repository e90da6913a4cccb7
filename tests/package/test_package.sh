#!/usr/bin/env bash
# The Debian package, installed and run as the systemd units would run it (label `package`,
# root). One step per ctest entry, in this order (ctest fixtures keep it):
#
#   build     a clean clone of the repository's committed HEAD, `dpkg-buildpackage -b`; the
#             version is the project's and the changelog's; lintian --pedantic reports nothing
#             (debian/synmatch.lintian-overrides says why for what it overrides); the runtime
#             dependencies are the libraries' packages.
#   install   `apt-get install ./synmatch_*.deb`: installed, the synmatch system user made.
#   contents  every file the package lists exists; the three programs' --version (= the
#             package version) and --help; `man -l` renders each page without a warning; the
#             example configurations pass --check-config; bash completion completes options;
#             logrotate accepts its snippet.
#   units     `systemd-analyze verify` accepts each unit (and refuses a broken copy: the check
#             can fail); `systemd-analyze security --offline=yes` exposure at most 2.0 (agent)
#             and 1.5 (collector); the hardening the issue asks for is there.
#   lab       each unit's ExecStart run outside systemd as systemd would run it (its User,
#             Group, capabilities, no_new_privs, RuntimeDirectory and LogsDirectory), with the
#             example configurations, in the network lab: two agents capture, the collector
#             decides (matched, refused, missing); the agents run as synmatch with no
#             capability left once capturing and the interface promiscuous; logrotate rotates
#             the verdicts and ExecReload reopens them; under strace, every system call the
#             three processes made is one the unit's SystemCallFilter allows, and what they
#             opened fits ProtectSystem=strict, ProtectHome and ProcSubset=pid.
#   purge     `apt-get purge`: the package, its files and /etc/synmatch are gone.
#
#   tests/package/test_package.sh STEP BUILD_DIR SOURCE_DIR
set -euo pipefail
step=$1
build=$(cd "$2" && pwd)
src=$(cd "$3" && pwd)
work=$build/tests/package
mkdir -p "$work"
fail=0
ok() { echo "ok   $*"; }
bad() {
    echo "FAIL $*"
    fail=$((fail + 1))
}
finish() {
    [ "$fail" -eq 0 ] && echo "package $step: all checks passed" || echo "package $step: $fail checks FAILED"
    exit "$((fail > 0))"
}
version=$(sed -n 's/^project(synmatch VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
arch=$(dpkg --print-architecture)
deb=$work/synmatch_${version}_${arch}.deb
unitdir=/lib/systemd/system
apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -y -q "$@"; }

# The value of a unit's KEY (its last assignment), from the installed unit.
unit_get() { # UNIT KEY
    sed -n "s/^$2=//p" "$unitdir/$1" | tail -1
}

step_build() {
    if ! git -C "$src" rev-parse --verify -q HEAD >/dev/null; then
        bad "$src is not a git repository: the package is built from a clean clone"
        finish
    fi
    [ -z "$(git -C "$src" status --porcelain --untracked-files=no)" ] ||
        echo "note: $src has uncommitted changes; the package is built from HEAD without them"
    rm -rf "$work" && mkdir -p "$work"
    git clone -q --no-hardlinks "$src" "$work/src"
    local t0=$SECONDS
    if (cd "$work/src" && dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1; then
        ok "dpkg-buildpackage -b from a clean clone ($((SECONDS - t0)) s)"
    else
        bad "dpkg-buildpackage failed:"
        tail -30 "$work/build.log"
        finish
    fi
    [ -f "$deb" ] && ok "built $(basename "$deb")" || { bad "no $deb:"; ls "$work"; finish; }
    local v cl
    v=$(dpkg-deb -f "$deb" Version)
    cl=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
    [ "$v" = "$version" ] && [ "$cl" = "$version" ] &&
        ok "package version $v = CMake project version = debian/changelog" ||
        bad "versions differ: package $v, CMakeLists.txt $version, debian/changelog $cl"
    local dep
    dep=$(dpkg-deb -f "$deb" Depends)
    for d in libpcap0.8 libzmq5 libprotobuf-c1 libnats libc6 "systemd | systemd-standalone-sysusers"; do
        case "$dep" in *"$d"*) ;; *) bad "Depends lacks $d: $dep" ;; esac
    done
    ok "Depends: $dep"
    # lintian refuses to be quiet about running as root; only its findings matter.
    lintian --pedantic --display-info --display-experimental "$deb" >"$work/lintian.txt" 2>"$work/lintian.err" || true
    if [ -s "$work/lintian.txt" ]; then
        bad "lintian --pedantic reports:"
        cat "$work/lintian.txt"
    elif grep -qv "running with root privileges" "$work/lintian.err"; then
        bad "lintian failed:"
        cat "$work/lintian.err"
    else
        ok "lintian --pedantic --display-info: nothing ($(lintian -I --show-overrides "$deb" 2>/dev/null | grep -c "^O:") overridden, the reasons in debian/synmatch.lintian-overrides)"
    fi
}

step_install() {
    [ -f "$deb" ] || { bad "no $deb (the build step failed?)"; finish; }
    # --reinstall: the same version left installed by an interrupted run is replaced too.
    if apt_get install --reinstall --no-install-recommends "$deb" >"$work/install.log" 2>&1; then
        ok "apt-get install $(basename "$deb")"
    else
        bad "apt-get install failed:"
        tail -20 "$work/install.log"
        finish
    fi
    [ "$(dpkg-query -W -f='${Status} ${Version}' synmatch)" = "install ok installed $version" ] &&
        ok "dpkg: synmatch $version installed" || bad "dpkg: $(dpkg-query -W -f='${Status} ${Version}' synmatch)"
    local pw
    pw=$(getent passwd synmatch || true)
    IFS=: read -r _ _ uid _ _ home shell <<<"$pw"
    [ -n "$pw" ] && [ "$uid" -lt 1000 ] && [ "$home" = /nonexistent ] && [ "$shell" = /usr/sbin/nologin ] &&
        ok "system user made by the package: $pw" || bad "user synmatch: '$pw'"
    getent group synmatch >/dev/null && ok "group synmatch" || bad "no group synmatch"
}

step_contents() {
    local n=0 f
    while read -r f; do
        [ -e "$f" ] || { bad "listed but missing: $f"; continue; }
        n=$((n + 1))
    done < <(dpkg -L synmatch)
    ok "all $n paths dpkg lists for synmatch exist"
    for f in /usr/bin/synmatch /usr/sbin/synmatch-agent /usr/sbin/synmatch-collector \
        /usr/share/man/man1/synmatch.1.gz /usr/share/man/man8/synmatch-agent.8.gz \
        /usr/share/man/man8/synmatch-collector.8.gz "$unitdir/synmatch-agent@.service" \
        "$unitdir/synmatch-collector.service" /usr/lib/sysusers.d/synmatch.conf \
        /etc/synmatch/agent-example.conf /etc/synmatch/collector.conf /etc/logrotate.d/synmatch \
        /usr/share/bash-completion/completions/synmatch \
        /usr/share/bash-completion/completions/synmatch-agent \
        /usr/share/bash-completion/completions/synmatch-collector \
        /usr/share/doc/synmatch/copyright /usr/share/doc/synmatch/DEPLOY.md.gz; do
        dpkg -S "$f" >/dev/null 2>&1 && [ -e "$f" ] || bad "not installed by the package: $f"
    done
    ok "programs, man pages, units, sysusers, configurations, logrotate, completion, docs in place"
    local conf
    conf=$(dpkg-query -W -f='${Conffiles}' synmatch)
    for f in /etc/synmatch/agent-example.conf /etc/synmatch/collector.conf /etc/logrotate.d/synmatch; do
        grep -q " $f " <<<"$conf" || bad "$f is not a conffile"
    done
    ok "files in /etc are conffiles (an admin's edits survive upgrades)"

    local p out
    for p in synmatch synmatch-agent synmatch-collector; do
        out=$("$p" --version 2>&1) && [ "$out" = "$p $version" ] && ok "$p --version: $out" ||
            bad "$p --version: '$out'"
        out=$("$p" --help 2>&1) && grep -q '^usage: ' <<<"$out" && ok "$p --help ($(wc -l <<<"$out") lines)" ||
            bad "$p --help: $(head -3 <<<"$out")"
    done
    # tail, top and keygen run /usr/libexec/synmatch/synmatch-live (compare loads none of
    # their libraries)
    [ -x /usr/libexec/synmatch/synmatch-live ] && dpkg -S /usr/libexec/synmatch/synmatch-live >/dev/null 2>&1 ||
        bad "not installed by the package: /usr/libexec/synmatch/synmatch-live"
    for p in tail top; do
        out=$(synmatch "$p" --help 2>&1) && grep -q "^usage: synmatch $p" <<<"$out" &&
            ok "synmatch $p --help (through synmatch-live)" || bad "synmatch $p --help: $(head -3 <<<"$out")"
    done
    out=$(cd "$work" && synmatch keygen pkgkey 2>&1) && [ -s "$work/pkgkey.key" ] && ok "synmatch keygen (through synmatch-live)" ||
        bad "synmatch keygen: $out"
    rm -f "$work"/pkgkey.*
    for p in synmatch synmatch-agent synmatch-collector; do
        f=$(man -w "$p" 2>/dev/null || true)
        if [ -z "$f" ]; then
            bad "man -w $p finds no page"
            continue
        fi
        LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$f" >"$work/$p.man" 2>"$work/$p.man.err" || true
        if [ -s "$work/$p.man.err" ]; then
            bad "man -l $f warns:"
            cat "$work/$p.man.err"
        elif grep -q '^NAME' "$work/$p.man" && grep -q "^     $p" "$work/$p.man" &&
            [ "$(wc -l <"$work/$p.man")" -gt 60 ]; then
            ok "man -l $f renders ($(wc -l <"$work/$p.man") lines, no warning)"
        else
            bad "man -l $f: unexpected rendering"
            head -20 "$work/$p.man"
        fi
    done
    for p in agent-example:synmatch-agent collector:synmatch-collector; do
        if "${p#*:}" --config "/etc/synmatch/${p%%:*}.conf" --check-config >"$work/check.out" 2>&1; then
            ok "${p#*:} --config /etc/synmatch/${p%%:*}.conf --check-config: $(grep -vc '^#' "$work/check.out") settings"
        else
            bad "/etc/synmatch/${p%%:*}.conf: $(cat "$work/check.out")"
        fi
    done
    # bash completion, as bash-completion would load it: options from --help, values known.
    local comp
    comp=$(bash -c 'source /usr/share/bash-completion/completions/synmatch-agent
        COMP_WORDS=(synmatch-agent --co); COMP_CWORD=1; _synmatch_daemon synmatch-agent
        printf "%s " "${COMPREPLY[@]}"
        COMP_WORDS=(synmatch-agent --role s); COMP_CWORD=2; _synmatch_daemon synmatch-agent
        printf "%s " "${COMPREPLY[@]}"
        COMP_WORDS=(synmatch co); COMP_CWORD=1; _synmatch synmatch; printf "%s " "${COMPREPLY[@]}"
        COMP_WORDS=(synmatch compare --fo); COMP_CWORD=2; _synmatch synmatch; printf "%s " "${COMPREPLY[@]}"
        COMP_WORDS=(synmatch-collector --alerts); COMP_CWORD=1; _synmatch_daemon synmatch-collector
        printf "%s " "${COMPREPLY[@]}"' 2>&1)
    [ "$comp" = "--collector --config server compare --format --alerts-allow --alerts-pub " ] &&
        ok "bash completion: $comp" || bad "bash completion: '$comp'"
    if logrotate -d /etc/logrotate.d/synmatch >"$work/logrotate.txt" 2>&1 &&
        ! grep -qi "error" "$work/logrotate.txt"; then
        ok "logrotate -d accepts /etc/logrotate.d/synmatch"
    else
        bad "logrotate -d /etc/logrotate.d/synmatch:"
        cat "$work/logrotate.txt"
    fi
}

step_units() {
    local u out rc
    for u in synmatch-collector.service synmatch-agent@lab.service; do
        rc=0
        out=$(cd / && systemd-analyze verify "$u" 2>&1) || rc=$?
        [ "$rc" = 0 ] && [ -z "$out" ] && ok "systemd-analyze verify $u: no complaint" ||
            bad "systemd-analyze verify $u: exit $rc: $out"
    done
    # The check can fail: a copy whose program does not exist is refused.
    mkdir -p "$work/broken"
    sed 's|^ExecStart=.*|ExecStart=/nonexistent/synmatch-collector|' "$unitdir/synmatch-collector.service" \
        >"$work/broken/synmatch-collector.service"
    rc=0
    out=$(systemd-analyze verify "$work/broken/synmatch-collector.service" 2>&1) || rc=$?
    [ "$rc" != 0 ] && grep -q nonexistent <<<"$out" && ok "systemd-analyze verify refuses a unit whose program is missing" ||
        bad "systemd-analyze verify accepted a broken unit (exit $rc): $out"

    local max
    for u in synmatch-agent@lab.service:2.0 synmatch-collector.service:1.5; do
        max=${u#*:}
        u=${u%%:*}
        out=$(cd / && systemd-analyze security --offline=yes "$u" 2>&1 | tee "$work/security-$u.txt" |
            sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p')
        if [ -n "$out" ] && awk -v s="$out" -v m="$max" 'BEGIN {exit !(s <= m)}'; then
            ok "systemd-analyze security --offline=yes $u: exposure $out (at most $max)"
        else
            bad "systemd-analyze security $u: exposure '$out', want at most $max:"
            grep '✗' "$work/security-$u.txt" || tail -5 "$work/security-$u.txt"
        fi
    done

    # What the issue asks of both units, so that removing it fails here.
    local want
    for u in synmatch-agent@.service synmatch-collector.service; do
        for want in User=synmatch Group=synmatch NoNewPrivileges=yes ProtectSystem=strict \
            ProtectHome=yes PrivateTmp=yes Restart=on-failure; do
            grep -qx "$want" "$unitdir/$u" || bad "$u lacks $want"
        done
        [ "$(unit_get "$u" ExecStart)" != "" ] || bad "$u has no ExecStart"
    done
    grep -qx 'AmbientCapabilities=CAP_NET_RAW' "$unitdir/synmatch-agent@.service" ||
        bad "the agent unit does not give CAP_NET_RAW"
    grep -qx 'RestrictAddressFamilies=AF_PACKET AF_NETLINK AF_UNIX AF_INET AF_INET6' \
        "$unitdir/synmatch-agent@.service" || bad "the agent unit's RestrictAddressFamilies"
    [ "$(unit_get synmatch-agent@.service ExecStart)" = "/usr/sbin/synmatch-agent --config /etc/synmatch/agent-%i.conf" ] ||
        bad "synmatch-agent@NAME does not read /etc/synmatch/agent-NAME.conf"
    grep -q '^ExecReload=.*-HUP \$MAINPID' "$unitdir/synmatch-collector.service" ||
        bad "the collector unit does not reload with SIGHUP"
    [ "$fail" -eq 0 ] && ok "both units: dedicated user, no_new_privs, read-only system, no home, private /tmp, restart on failure; the agent CAP_NET_RAW only; the collector reloads with SIGHUP"
}

# ---- the lab -----------------------------------------------------------------------------------
# Runs a unit's ExecStart as systemd would: its User and Group, no supplementary groups, its
# capability sets and no_new_privs; %i is INSTANCE. Extra arguments go before the program
# (a namespace, strace). Prints nothing; the command runs in the foreground.
run_unit() { # UNIT INSTANCE PREFIX...
    local unit=$1 inst=$2 caps=() c
    shift 2
    local exec user group amb bound
    exec=$(unit_get "$unit" ExecStart)
    exec=${exec//%i/$inst}
    user=$(unit_get "$unit" User)
    group=$(unit_get "$unit" Group)
    amb=$(unit_get "$unit" AmbientCapabilities)
    bound=$(unit_get "$unit" CapabilityBoundingSet)
    local inh=-all bnd=-all
    for c in $amb; do c=${c#CAP_} && inh+=",+${c,,}"; done
    for c in $bound; do c=${c#CAP_} && bnd+=",+${c,,}"; done
    [ "$(unit_get "$unit" NoNewPrivileges)" = yes ] && caps+=(--no-new-privs)
    # shellcheck disable=SC2086  # ExecStart is words on purpose (the units quote nothing)
    exec "$@" setpriv --reuid "$user" --regid "$group" --clear-groups --inh-caps "$inh" \
        --ambient-caps "$inh" --bounding-set "$bnd" "${caps[@]}" $exec
}

step_lab() {
    local here
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    out=$(mktemp -d) # global: the EXIT trap removes it
    chmod 755 "$out"
    LAB=smpk$$
    # shellcheck source=../lib/lab.sh
    . "$src/tests/lib/lab.sh"
    made=() # global, as pids and out: the EXIT trap runs after this function returned
    cleanup_lab() {
        kill -TERM "${pids[@]}" 2>/dev/null || true
        sleep 0.3
        kill -KILL "${pids[@]}" 2>/dev/null || true
        lab_down
        rm -rf "${made[@]}" "$out"
    }
    pids=()
    trap cleanup_lab EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    for d in /run/synmatch /var/log/synmatch /etc/synmatch/agent-labclient.conf /etc/synmatch/agent-labserver.conf; do
        if [ -e "$d" ]; then
            bad "$d exists: a synmatch service may run on this host; the test needs it"
            finish
        fi
    done
    LAB_NO_TRAP=1 lab_up

    # What systemd makes for the collector before starting it.
    local cu=synmatch-collector.service au=synmatch-agent@.service
    install -d -o "$(unit_get $cu User)" -g "$(unit_get $cu Group)" -m "$(unit_get $cu RuntimeDirectoryMode)" \
        "/run/$(unit_get $cu RuntimeDirectory)"
    made+=("/run/$(unit_get $cu RuntimeDirectory)")
    install -d -o "$(unit_get $cu User)" -g "$(unit_get $cu Group)" -m "$(unit_get $cu LogsDirectoryMode)" \
        "/var/log/$(unit_get $cu LogsDirectory)"
    made+=("/var/log/$(unit_get $cu LogsDirectory)")
    # Two agent configurations from the example: its interface, role and id changed, the rest as shipped.
    local side ifc
    for side in client server; do
        ifc=c-fw && [ $side = server ] && ifc=s-fw
        sed -e "s/^interface = .*/interface = $ifc/" -e "s/^role = .*/role = $side/" \
            -e "s/^sensor-id = .*/sensor-id = lab$side/" /etc/synmatch/agent-example.conf \
            >"/etc/synmatch/agent-lab$side.conf"
        made+=("/etc/synmatch/agent-lab$side.conf")
    done
    local verdicts
    verdicts=$(sed -n 's/^output = //p' /etc/synmatch/collector.conf)

    (run_unit $cu "" setpriv --pdeathsig TERM strace -f -qq -o "$out/strace.collector") \
        2>"$out/collector.err" &
    pids+=($!)
    for _ in $(seq 100); do grep -q "listening on" "$out/collector.err" && break; sleep 0.05; done
    grep -q "listening on" "$out/collector.err" || { bad "collector did not start:"; cat "$out/collector.err"; finish; }
    for side in client server; do
        (run_unit $au "lab$side" ip netns exec "$(lab_ns $side)" setpriv --pdeathsig TERM \
            strace -f -qq -o "$out/strace.agent-$side") 2>"$out/agent-$side.err" &
        pids+=($!)
    done
    local t
    for t in $(seq 100); do
        [ "$(grep -c '"event":"sensor_up"' "$verdicts" 2>/dev/null)" -ge 2 ] && break
        sleep 0.1
    done
    [ "$t" -lt 100 ] && ok "two agents up (sensor_up from both)" ||
        { bad "agents not up:"; cat "$out"/*.err; finish; }

    # The agents' processes: the unit's user, nothing of their capabilities left, no_new_privs.
    local pid st cpid
    declare -A apid
    cpid=$(pgrep -u synmatch -f '^/usr/sbin/synmatch-collector --config' | head -1)
    for side in client server; do
        pid=$(pgrep -u synmatch -f "^/usr/sbin/synmatch-agent --config /etc/synmatch/agent-lab$side.conf" | head -1)
        apid[$side]=$pid
        st=/proc/$pid/status
        if [ -n "$pid" ] && [ "$(awk '/^Uid:/ {print $2 $3 $4 $5}' "$st")" = "$(id -u synmatch | sed 's/.*/&&&&/')" ] &&
            [ "$(awk '/^CapEff:/ {print $2}' "$st")" = 0000000000000000 ] &&
            [ "$(awk '/^CapPrm:/ {print $2}' "$st")" = 0000000000000000 ] &&
            [ "$(awk '/^CapAmb:/ {print $2}' "$st")" = 0000000000000000 ] &&
            [ "$(awk '/^NoNewPrivs:/ {print $2}' "$st")" = 1 ]; then
            ok "agent lab$side (pid $pid): user synmatch, capabilities cleared once capturing, no_new_privs"
        else
            bad "agent lab$side (pid '$pid'): $(grep -E '^(Uid|Cap|NoNew)' "$st" 2>/dev/null | tr '\n' ' ')"
        fi
    done
    lab_exec client ip -d link show c-fw | grep -Eq 'promiscuity [1-9]' &&
        ok "c-fw promiscuous with CAP_NET_RAW alone" || bad "c-fw not promiscuous: $(lab_exec client ip -d link show c-fw)"

    # Real connections: accepted (IPv4 and IPv6) and refused, then rotate, then dropped ones.
    connect() { # PORT COUNT SYNCNT [6]
        lab_exec client "$LAB_PY" - "$@" "$LAB_S4" "$LAB_S6" <<'PY'
import socket, sys
port, n, syncnt, fam = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
s4, s6 = sys.argv[5], sys.argv[6]
for i in range(n):
    six = fam == "6" or (fam == "46" and i % 2)
    s = socket.socket(socket.AF_INET6 if six else socket.AF_INET)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, syncnt)
    s.settimeout(8)
    try:
        s.connect((s6 if six else s4, port))
        s.sendall(b"hello\n")
        s.recv(100)
    except OSError:
        pass
    s.close()
PY
    }
    # count_final FILE VERDICT: final verdict lines of that kind.
    count_final() { grep -c "\"verdict\":\"$2\"" "$1" 2>/dev/null || true; }
    wait_for() { # FILE VERDICT N SECONDS
        local i
        for i in $(seq $(($4 * 10))); do
            [ "$(count_final "$1" "$2")" -ge "$3" ] && return 0
            sleep 0.1
        done
        return 1
    }
    connect "$LAB_PORT_OK" 6 2 46
    connect "$LAB_PORT_REFUSED" 2 2 4
    if wait_for "$verdicts" matched 6 15 && wait_for "$verdicts" refused 2 5; then
        ok "the collector decided: $(count_final "$verdicts" matched) matched, $(count_final "$verdicts" refused) refused"
    else
        bad "no verdicts for the accepted and refused connections:"
        cat "$verdicts"
    fi

    # Rotation as the package sets it up: logrotate's snippet, then the unit's ExecReload.
    local reload
    logrotate -f -s "$out/logrotate.state" /etc/logrotate.d/synmatch >"$out/logrotate.log" 2>&1 ||
        bad "logrotate -f: $(cat "$out/logrotate.log")"
    reload=$(unit_get $cu ExecReload)
    reload=${reload//\$MAINPID/$cpid}
    $reload
    for _ in $(seq 50); do [ -e "$verdicts" ] && break; sleep 0.1; done
    [ -s "$verdicts.1" ] && [ -e "$verdicts" ] && [ "$(stat -c %U "$verdicts")" = synmatch ] &&
        ok "logrotate moved the verdicts to $(basename "$verdicts").1; ExecReload ($reload): the collector reopened $(basename "$verdicts")" ||
        bad "rotation: $(ls -l "$(dirname "$verdicts")"); $(tail -3 "$out/collector.err")"

    connect "$LAB_PORT_DROP" 2 1 4
    if wait_for "$verdicts" missing 2 20; then
        ok "dropped by the firewall: $(count_final "$verdicts" missing) missing, in the reopened file"
    else
        bad "no missing verdicts for the dropped SYNs:"
        cat "$verdicts"
    fi
    sleep 1 # nothing more should come
    local kinds
    kinds=$(cat "$verdicts.1" "$verdicts" | /usr/bin/python3 -c '
import collections, json, sys
c, seen, dup = collections.Counter(), set(), 0
for line in sys.stdin:
    o = json.loads(line)
    if o.get("verdict") and o["verdict"] != "suspect":
        dup += o["seq"] in seen
        seen.add(o["seq"])
        c[o["verdict"]] += 1
print(" ".join("%s=%d" % kv for kv in sorted(c.items())), "dup=%d" % dup)')
    [ "$kinds" = "matched=6 missing=2 refused=2 dup=0" ] &&
        ok "verdicts across the rotation: $kinds (each connection once, nothing else)" ||
        bad "verdicts across the rotation: $kinds (want matched=6 missing=2 refused=2 dup=0)"

    # Stop as systemd stops (SIGTERM to the program), the agents first; strace ends with it.
    local p
    for p in "${apid[client]}" "${apid[server]}" "$cpid"; do
        [ -n "$p" ] || continue
        kill -TERM "$p" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$p" 2>/dev/null && bad "pid $p did not stop within 10 s of SIGTERM"
    done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    done
    grep -q '"event":"sensor_end"' "$verdicts" && ok "agents ended cleanly (sensor_end)" ||
        bad "no sensor_end: $(cat "$out"/agent-*.err)"

    # The sandbox, checked on what the processes did: system calls against SystemCallFilter,
    # paths against ProtectSystem=strict, ProtectHome and ProcSubset=pid.
    for side in client server; do
        /usr/bin/python3 "$here/sandbox_check.py" "$unitdir/$au" "$out/strace.agent-$side" \
            /run/synmatch || bad "the sandbox of synmatch-agent@lab$side"
    done
    /usr/bin/python3 "$here/sandbox_check.py" "$unitdir/$cu" "$out/strace.collector" \
        /run/synmatch /var/log/synmatch || bad "the sandbox of synmatch-collector"
}

step_purge() {
    if apt_get purge synmatch >"$work/purge.log" 2>&1; then
        ok "apt-get purge synmatch"
    else
        bad "apt-get purge failed:"
        tail -20 "$work/purge.log"
    fi
    dpkg-query -W -f='${Status}' synmatch 2>/dev/null | grep -q installed && bad "synmatch still installed" ||
        ok "synmatch not installed any more"
    local f
    for f in /usr/bin/synmatch /usr/sbin/synmatch-agent /usr/sbin/synmatch-collector /etc/synmatch \
        "$unitdir/synmatch-collector.service" /etc/logrotate.d/synmatch /usr/share/man/man8/synmatch-agent.8.gz; do
        [ -e "$f" ] && bad "left after purge: $f"
    done
    ok "programs, units, /etc/synmatch and logrotate snippet removed (the synmatch user stays, as Debian does)"
}

case $step in
    build | install | contents | units | lab | purge) "step_$step" ;;
    *)
        echo "usage: $0 build|install|contents|units|lab|purge BUILD_DIR SOURCE_DIR" >&2
        exit 2
        ;;
esac
finish
