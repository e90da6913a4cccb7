#!/usr/bin/env bash
# synmatch network lab: real Linux TCP stacks in network namespaces.
#
# Source this file and call the lab_* functions, or run it directly
# (`tests/lib/lab.sh up|down|gc|demo DIR`). Layout, traffic and truth files are
# described in tests/netns/README.md.
#
#   client ns                firewall ns (nftables)            server ns
#   c-fw 198.18.1.2/24 ----- fw-c 198.18.1.1/24
#        2001:db8:1::2/64         2001:db8:1::1/64
#                            fw-s 198.18.2.1/24 --------------- s-fw 198.18.2.2/24
#                                 2001:db8:2::1/64                   2001:db8:2::2/64
#                            fw-o 198.18.3.1/24 ---- other ns: o-fw 198.18.3.2/24
#                                 2001:db8:3::1/64                     2001:db8:3::2/64
#
# Every name is derived from $LAB (default smt$$), so several labs can coexist:
# namespaces are "$LAB-client", "$LAB-fw", "$LAB-server", "$LAB-other"; interface
# names live inside those namespaces and therefore never collide.
#
# Cleanup: lab_up installs EXIT/INT/TERM traps that call lab_down unless
# LAB_NO_TRAP=1 is set (then the caller must call lab_down itself, e.g. from its
# own trap). lab_down is idempotent and never fails. lab_gc removes labs left
# behind by runs that were SIGKILLed (default-named labs whose pid is gone).
#
# Only 198.18.0.0/15 and 2001:db8::/32 are used, and only inside these
# namespaces. Nothing is routed to the host or beyond.

# ---------------------------------------------------------------------------
# Configuration (override before sourcing or before lab_up)
# ---------------------------------------------------------------------------
: "${LAB:=smt$$}"
: "${LAB_PY:=/usr/bin/python3}"
: "${LAB_SYN_RETRIES:=2}"        # client net.ipv4.tcp_syn_retries (also used by IPv6 TCP)
: "${LAB_SYN_LINEAR_TIMEOUTS:=0}" # client net.ipv4.tcp_syn_linear_timeouts (kernel >= 6.5): 0 = classic exponential backoff

LAB_C4=198.18.1.2
LAB_FWC4=198.18.1.1
LAB_FWS4=198.18.2.1
LAB_S4=198.18.2.2
LAB_FWO4=198.18.3.1
LAB_O4=198.18.3.2
LAB_C6=2001:db8:1::2
LAB_FWC6=2001:db8:1::1
LAB_FWS6=2001:db8:2::1
LAB_S6=2001:db8:2::2
LAB_FWO6=2001:db8:3::1
LAB_O6=2001:db8:3::2

LAB_PORT_OK=8080        # server: accept, read one line, reply, close (server closes first)
LAB_PORT_DROP=8081      # server listens, but the firewall drops every SYN to it
LAB_PORT_REFUSED=8082   # nothing listens: the server kernel answers RST/ACK
LAB_PORT_LOSSY=8083     # server listens; the firewall drops only the FIRST SYN of each ISN
LAB_PORT_OTHER=9090     # listener in the "other" namespace (out of scope for the server)
# The handshake faults (traffic.py n_replydrop= ... n_reset=, none by default):
LAB_PORT_REPLYDROP=8084 # server listens; the firewall drops the server's SYN/ACK on the way back
LAB_PORT_HOSTDROP=8085  # server listens; the server's own input chain drops the SYN (after capture)
LAB_PORT_FULLQ=8086     # server listens with backlog 0 and never accepts: a full accept queue
LAB_PORT_COOKIES=8087   # server listens; its phase runs with tcp_syncookies=2 (cookies always)
LAB_PORT_RESET=8088     # the firewall answers the SYN itself: reject with tcp reset
LAB_SPORT_REUSE=61080   # fixed client source port reused for several connections to 8080
LAB_SPORT_REUSE_RST=61082 # fixed client source port reused for the refused connections (v4)

LAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB_NFT_TABLE=synmatch_lab
LAB_NFT_NAT_TABLE=synmatch_nat

# Names derived from $LAB. Call again if you change LAB after sourcing.
lab_names() {
    LAB_NS_C="$LAB-client"
    LAB_NS_FW="$LAB-fw"
    LAB_NS_S="$LAB-server"
    LAB_NS_O="$LAB-other"
    LAB_RUN="${TMPDIR:-/tmp}/synmatch-lab.$LAB"
}
lab_names

# Background helpers (listeners, tcpdumps, traffic) get SIGTERM when the shell that
# started them dies, even by SIGKILL (setpriv --pdeathsig). So call lab_up,
# lab_capture_start and lab_traffic from the main shell, not from $(...) or a pipeline.
# LAB_PDEATHSIG=0 turns this off; lab_gc still removes what a killed run left behind.
: "${LAB_PDEATHSIG:=1}"
_lab_bg() {
    if [ "$LAB_PDEATHSIG" = 1 ] && setpriv --help 2>/dev/null | grep -q -- --pdeathsig; then
        exec setpriv --pdeathsig TERM "$@"
    fi
    exec "$@"
}

_lab_log() { printf 'lab[%s]: %s\n' "$LAB" "$*" >&2; }
_lab_die() { _lab_log "ERROR: $*"; return 1; }

# lab_ns client|fw|server|other: the namespace name.
# lab_exec client|fw|server|other CMD...: run CMD inside that namespace.
# (Backgrounded with &, a function runs in a subshell whose pid is not the program's:
# background jobs therefore exec `ip netns exec "$(lab_ns X)" ...` themselves, see _lab_bg.)
lab_ns() {
    case "$1" in
        client) echo "$LAB_NS_C" ;;
        fw | firewall) echo "$LAB_NS_FW" ;;
        server) echo "$LAB_NS_S" ;;
        other) echo "$LAB_NS_O" ;;
        *) echo "$1" ;;
    esac
}
lab_exec() {
    local ns
    ns=$(lab_ns "$1")
    shift
    ip netns exec "$ns" "$@"
}

# ---------------------------------------------------------------------------
# Helper programs (python3 stdlib), written into $LAB_RUN by lab_up.
# ---------------------------------------------------------------------------
_lab_write_helpers() {
    cat >"$LAB_RUN/server.py" <<'PY'
# Dual-stack TCP listeners: accept, read one line, reply, close (server closes first,
# so the server side holds TIME_WAIT and a client may reuse its source port at once).
import socket, sys, threading

def handle(c):
    try:
        c.settimeout(5)
        data = b""
        while b"\n" not in data and len(data) < 4096:
            d = c.recv(4096)
            if not d:
                break
            data += d
        c.sendall(b"reply " + data)
    except OSError:
        pass
    finally:
        c.close()

def serve(s):
    while True:
        try:
            c, _ = s.accept()
        except OSError:
            continue
        threading.Thread(target=handle, args=(c,), daemon=True).start()

socks, held = [], []
for p in sys.argv[1:]:
    # noaccept:PORT listens with backlog 0 and never accepts: once one connection sits in
    # the accept queue, the kernel drops every further SYN (ListenOverflows).
    noaccept = p.startswith("noaccept:")
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", int(p.split(":")[-1])))
    s.listen(0 if noaccept else 512)
    (held if noaccept else socks).append(s)
for s in socks:
    threading.Thread(target=serve, args=(s,), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
PY

    cat >"$LAB_RUN/traffic.py" <<'PY'
# Client traffic for the synmatch lab. Prints one TSV line per connection attempt:
#   kind family sport dst dport syncnt result
# kind: head | ok | reuse | drop | refused | lossy | other | tail, and the handshake faults
# replydrop | hostdrop | reset | filler | fullq | cookies ; result: ok | refused | timeout | error:...
import errno, os, select, socket, subprocess, sys, threading, time

cfg = dict(a.split("=", 1) for a in sys.argv[1:])
S4, S6, O4, O6 = cfg["s4"], cfg["s6"], cfg["o4"], cfg["o6"]
P_OK, P_DROP, P_REF = int(cfg["p_ok"]), int(cfg["p_drop"]), int(cfg["p_ref"])
P_LOSSY, P_OTHER = int(cfg["p_lossy"]), int(cfg["p_other"])
SP_REUSE, SP_REUSE_RST = int(cfg["sp_reuse"]), int(cfg["sp_reuse_rst"])
N_OK = int(cfg.get("n_ok", 20))
N_REUSE = int(cfg.get("n_reuse", 4))
N_DROP = int(cfg.get("n_drop", 3))
N_DROP1 = int(cfg.get("n_drop1", 1))
N_REF = int(cfg.get("n_ref", 3))
N_LOSSY = int(cfg.get("n_lossy", 2))
N_OTHER = int(cfg.get("n_other", 2))
TAIL_DELAY = float(cfg.get("tail_delay", 1.0))
P_REPLYDROP, P_HOSTDROP = int(cfg["p_replydrop"]), int(cfg["p_hostdrop"])
P_FULLQ, P_COOKIES, P_RESET = int(cfg["p_fullq"]), int(cfg["p_cookies"]), int(cfg["p_reset"])
N_REPLYDROP = int(cfg.get("n_replydrop", 0))
N_HOSTDROP = int(cfg.get("n_hostdrop", 0))
N_FULLQ = int(cfg.get("n_fullq", 0))
N_COOKIES = int(cfg.get("n_cookies", 0))
N_RESET = int(cfg.get("n_reset", 0))
SERVER_NS = cfg.get("server_ns", "")
HEAD_DELAY = float(cfg.get("head_delay", 1.5))

out_lock = threading.Lock()
results = []

def emit(*f):
    line = "\t".join(str(x) for x in f)
    with out_lock:
        results.append(line)

def fam_of(dst):
    return socket.AF_INET6 if ":" in dst else socket.AF_INET

def connect(dst, dport, sport=0, syncnt=0):
    """Non-blocking connect so the source port is known even when it fails.
    Returns (sock or None, sport, result)."""
    fam = fam_of(dst)
    for _ in range(200):
        s = socket.socket(fam, socket.SOCK_STREAM)
        if sport:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", sport))
        if syncnt:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, syncnt)
        s.setblocking(False)
        rc = s.connect_ex((dst, dport))
        if rc == errno.EADDRNOTAVAIL and sport:
            # the previous connection on this 4-tuple is still in LAST_ACK: no SYN was sent
            s.close()
            time.sleep(0.01)
            continue
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            return None, sport, "error:%s" % errno.errorcode.get(rc, rc)
        sp = s.getsockname()[1]
        select.select([], [s], [], 60)
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err == 0:
            s.setblocking(True)
            s.settimeout(10)
            return s, sp, "ok"
        s.close()
        if err == errno.ECONNREFUSED:
            return None, sp, "refused"
        if err == errno.ETIMEDOUT:
            return None, sp, "timeout"
        return None, sp, "error:%s" % errno.errorcode.get(err, err)
    return None, sport, "error:EADDRNOTAVAIL"

def exchange(s, tag):
    try:
        s.sendall(tag.encode() + b"\n")
        data = b""
        while True:  # read until the server's FIN: the server closes first
            d = s.recv(4096)
            if not d:
                break
            data += d
        return "ok" if data.startswith(b"reply ") else "error:badreply"
    except OSError as e:
        return "error:%s" % e
    finally:
        s.close()

def conn(kind, dst, dport, sport=0, syncnt=0):
    s, sp, res = connect(dst, dport, sport, syncnt)
    if s is not None:
        res = exchange(s, "%s %s %d" % (kind, dst, sp))
    emit(kind, "ipv6" if ":" in dst else "ipv4", sp, dst, dport, syncnt or "-", res)

def server_sysctl(setting):
    subprocess.run(["ip", "netns", "exec", SERVER_NS, "sysctl", "-q", "-w", setting], check=True)

threads = []
def bg(*a, **kw):
    t = threading.Thread(target=conn, args=a, kwargs=kw)
    t.start()
    threads.append(t)

# 0. Head: one exchange each way, then a pause longer than the 1 s clock-skew allowance,
# so both captures demonstrably run before the interesting traffic starts (a classic pcap
# has no capture-start time: its first frame is all an offline compare can go by).
conn("head", S4, P_OK)
conn("head", S6, P_OK)
time.sleep(HEAD_DELAY)
# 1. SYNs the firewall drops: all start at once and give up after their SYN retries.
for dst in (S4, S6):
    for _ in range(N_DROP):
        bg("drop", dst, P_DROP)
    for _ in range(N_DROP1):
        bg("drop", dst, P_DROP, syncnt=1)   # per-socket TCP_SYNCNT=1: 2 attempts
# 2. First attempt lost, the retransmission gets through (~1 s later).
for dst in (S4, S6):
    for _ in range(N_LOSSY):
        bg("lossy", dst, P_LOSSY)
# 2b. Handshakes that break past the SYN: the SYN/ACK dropped on the way back, the SYN dropped
# by the server host after the capture point, a reset from the firewall.
for dst in (S4, S6):
    for _ in range(N_REPLYDROP):
        bg("replydrop", dst, P_REPLYDROP)
    for _ in range(N_HOSTDROP):
        bg("hostdrop", dst, P_HOSTDROP)
    for _ in range(N_RESET):
        bg("reset", dst, P_RESET)
# 3. Meanwhile, sequential traffic.
for i in range(N_OK):
    conn("ok", S4, P_OK)
    conn("ok", S6, P_OK)
# A few milliseconds apart: two SYNs of one port pair in the same millisecond carry the same
# TCP timestamp (Linux's offset is per address pair), and behind an ISN-rewriting device an
# IPv6 SYN has nothing else to tell them apart by: compare then rightly says ambiguous, not
# the matched this test expects (it failed so once in CI, the connections being sub-ms).
for dst in (S4, S6):
    for _ in range(N_REUSE):
        time.sleep(0.003)
        conn("reuse", dst, P_OK, sport=SP_REUSE)
for _ in range(N_REF):
    conn("refused", S4, P_REF, sport=SP_REUSE_RST)
    conn("refused", S6, P_REF)
for _ in range(N_OTHER):
    conn("other", O4, P_OTHER)
    conn("other", O6, P_OTHER)
for t in threads:
    t.join()
# 3b. A full accept queue, in a phase of its own (the server host's counters are per host,
# so nothing else may overflow meanwhile): one connection fills the backlog-0 queue of a
# listener that never accepts, then every SYN to it is dropped by the server's kernel.
if N_FULLQ:
    threads = []
    filler, sp, res = connect(S4, P_FULLQ)
    emit("filler", "ipv4", sp, S4, P_FULLQ, "-", res)
    time.sleep(0.1)  # the handshake's last ACK has moved it into the accept queue
    for dst in (S4, S6):
        for _ in range(N_FULLQ):
            bg("fullq", dst, P_FULLQ)
    for t in threads:
        t.join()
    if filler is not None:
        filler.close()
# 3c. SYN cookies always (tcp_syncookies=2), in a phase of its own too: healthy handshakes
# answered with cookies.
if N_COOKIES:
    time.sleep(1.5)
    server_sysctl("net.ipv4.tcp_syncookies=2")
    try:
        for _ in range(N_COOKIES):
            conn("cookies", S4, P_COOKIES)
            conn("cookies", S6, P_COOKIES)
    finally:
        server_sysctl("net.ipv4.tcp_syncookies=1")
# 4. Tail: the dropped connects have given up (their last SYN went out ~4 s ago). A
# last exchange after TAIL_DELAY stretches both captures past "last dropped SYN +
# 3 s timeout + 1 s skew", so an offline compare can call those SYNs missing rather
# than out of the server capture's window.
time.sleep(TAIL_DELAY)
conn("tail", S4, P_OK)
conn("tail", S6, P_OK)
sys.stdout.write("\n".join(results) + "\n")
PY

    cat >"$LAB_RUN/pcap_syns.py" <<'PY'
# Print every TCP packet with SYN or RST set from a classic pcap file (us or ns):
#   ts_ns family src sport dst dport flags_hex seq ack
import struct, sys, socket

def main(path):
    f = open(path, "rb")
    gh = f.read(24)
    if len(gh) < 24:
        return
    magic = gh[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        sys.exit("%s: not a classic pcap file" % path)
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(e + "I", gh[20:24])[0] & 0x0FFFFFFF
    out = sys.stdout
    while True:
        rh = f.read(16)
        if len(rh) < 16:
            break
        sec, frac, incl, _orig = struct.unpack(e + "IIII", rh)
        pkt = f.read(incl)
        if len(pkt) < incl:
            break
        ts = sec * 1000000000 + (frac if nano else frac * 1000)
        if linktype == 1:  # Ethernet (+ VLAN tags)
            off, et = 14, struct.unpack(">H", pkt[12:14])[0] if len(pkt) >= 14 else 0
            while et in (0x8100, 0x88A8) and len(pkt) >= off + 4:
                et = struct.unpack(">H", pkt[off + 2:off + 4])[0]
                off += 4
        elif linktype == 113:  # Linux SLL
            off, et = 16, struct.unpack(">H", pkt[14:16])[0]
        elif linktype == 276:  # Linux SLL2
            off, et = 20, struct.unpack(">H", pkt[0:2])[0]
        elif linktype in (101, 12):  # raw IP
            off, et = 0, (0x86DD if pkt[:1] and pkt[0] >> 4 == 6 else 0x0800)
        else:
            continue
        ip = pkt[off:]
        if et == 0x0800 and len(ip) >= 20 and ip[0] >> 4 == 4:
            ihl = (ip[0] & 15) * 4
            if ip[9] != 6 or (struct.unpack(">H", ip[6:8])[0] & 0x1FFF):
                continue
            fam, src, dst = "ipv4", socket.inet_ntop(socket.AF_INET, ip[12:16]), socket.inet_ntop(socket.AF_INET, ip[16:20])
            tcp = ip[ihl:]
        elif et == 0x86DD and len(ip) >= 40:
            nh, o = ip[6], 40
            while nh in (0, 43, 60) and len(ip) >= o + 8:
                nh, o = ip[o], o + (ip[o + 1] + 1) * 8
            if nh != 6:
                continue
            fam, src, dst = "ipv6", socket.inet_ntop(socket.AF_INET6, ip[8:24]), socket.inet_ntop(socket.AF_INET6, ip[24:40])
            tcp = ip[o:]
        else:
            continue
        if len(tcp) < 20:
            continue
        sport, dport, seq, ack = struct.unpack(">HHII", tcp[:12])
        flags = tcp[13] | ((tcp[12] & 1) << 8)
        if flags & 0x06:  # SYN or RST
            out.write("%d\t%s\t%s\t%d\t%s\t%d\t0x%03x\t%d\t%d\n" % (ts, fam, src, sport, dst, dport, flags, seq, ack))

for p in sys.argv[1:]:
    main(p)
PY
}

# ---------------------------------------------------------------------------
# Lab lifecycle
# ---------------------------------------------------------------------------
_lab_sysctl() { # ns key=value... (one process; keys this kernel lacks are ignored)
    local ns=$1
    shift
    lab_exec "$ns" sysctl -e -q -w "$@" >/dev/null || _lab_die "sysctl $* failed in $ns"
}

_lab_offloads() { # ns ifname
    command -v ethtool >/dev/null 2>&1 || return 0
    # tx/rx checksum off too: captured packets carry real checksums, not partial ones.
    lab_exec "$1" ethtool -K "$2" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
}

_lab_veth() { # nsA ifA nsB ifB
    ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"
    _lab_offloads "$1" "$2"   # while down: cheaper, and no feature change on a live link
    _lab_offloads "$3" "$4"
    ip -n "$1" link set "$2" up
    ip -n "$3" link set "$4" up
}

_lab_addr() { # ns ifname v4/len v6/len
    ip -n "$1" addr add "$3" dev "$2"
    ip -n "$1" -6 addr add "$4" dev "$2" nodad
}

_lab_wait_file_line() { # file pattern timeout_s pid
    local i n=$(($3 * 20))
    for ((i = 0; i < n; i++)); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        if [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null; then
            return 1
        fi
        sleep 0.05
    done
    return 1
}

lab_install_trap() {
    # shellcheck disable=SC2064  # LAB is expanded now on purpose
    trap "LAB='$LAB'; lab_names; lab_down" EXIT
    # shellcheck disable=SC2064
    trap "LAB='$LAB'; lab_names; lab_down; trap - EXIT; exit 130" INT
    # shellcheck disable=SC2064
    trap "LAB='$LAB'; lab_names; lab_down; trap - EXIT; exit 143" TERM
}

lab_up() {
    lab_names
    local ns
    for ns in "$LAB_NS_C" "$LAB_NS_FW" "$LAB_NS_S" "$LAB_NS_O"; do
        if [ -e "/run/netns/$ns" ]; then
            _lab_die "namespace $ns already exists (lab_down or a different LAB)"
            return 1
        fi
    done
    [ "${LAB_NO_TRAP:-0}" = 1 ] || lab_install_trap
    command -v nft >/dev/null || _lab_die "nft not installed"
    command -v tcpdump >/dev/null || _lab_die "tcpdump not installed"
    [ -x "$LAB_PY" ] || _lab_die "$LAB_PY not found"

    rm -rf "$LAB_RUN"
    mkdir -p "$LAB_RUN"
    _lab_write_helpers

    for ns in "$LAB_NS_C" "$LAB_NS_FW" "$LAB_NS_S" "$LAB_NS_O"; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        # no DAD (addresses usable at once, link-local too), no router solicitations
        _lab_sysctl "$ns" net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
            net.ipv6.conf.default.router_solicitations=0 net.ipv6.conf.default.accept_ra=0
    done

    _lab_veth "$LAB_NS_C" c-fw "$LAB_NS_FW" fw-c
    _lab_veth "$LAB_NS_FW" fw-s "$LAB_NS_S" s-fw
    _lab_veth "$LAB_NS_FW" fw-o "$LAB_NS_O" o-fw

    _lab_addr "$LAB_NS_C" c-fw "$LAB_C4/24" "$LAB_C6/64"
    _lab_addr "$LAB_NS_FW" fw-c "$LAB_FWC4/24" "$LAB_FWC6/64"
    _lab_addr "$LAB_NS_FW" fw-s "$LAB_FWS4/24" "$LAB_FWS6/64"
    _lab_addr "$LAB_NS_S" s-fw "$LAB_S4/24" "$LAB_S6/64"
    _lab_addr "$LAB_NS_FW" fw-o "$LAB_FWO4/24" "$LAB_FWO6/64"
    _lab_addr "$LAB_NS_O" o-fw "$LAB_O4/24" "$LAB_O6/64"

    # Routes: only the lab prefixes, via the firewall. No default route anywhere.
    ip -n "$LAB_NS_C" route add 198.18.0.0/15 via "$LAB_FWC4"
    ip -n "$LAB_NS_C" -6 route add 2001:db8::/32 via "$LAB_FWC6"
    ip -n "$LAB_NS_S" route add 198.18.0.0/15 via "$LAB_FWS4"
    ip -n "$LAB_NS_S" -6 route add 2001:db8::/32 via "$LAB_FWS6"
    ip -n "$LAB_NS_O" route add 198.18.0.0/15 via "$LAB_FWO4"
    ip -n "$LAB_NS_O" -6 route add 2001:db8::/32 via "$LAB_FWO6"

    _lab_sysctl "$LAB_NS_FW" net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

    # Client: a dropped connect() gives up after 1 + LAB_SYN_RETRIES SYNs. The ipv4
    # TCP sysctls also govern IPv6 TCP; there is no separate IPv6 knob.
    # tcp_syn_linear_timeouts (6.5+; default 4) would add linear 1 s retries on top;
    # 0 restores the classic 1 s, 2 s, 4 s... backoff and an exact attempt count.
    _lab_sysctl "$LAB_NS_C" net.ipv4.tcp_syn_retries="$LAB_SYN_RETRIES" \
        net.ipv4.tcp_syn_linear_timeouts="$LAB_SYN_LINEAR_TIMEOUTS" \
        "net.ipv4.ip_local_port_range=32768 60999"
    [ "$(lab_exec client sysctl -n net.ipv4.tcp_syn_retries)" = "$LAB_SYN_RETRIES" ] ||
        _lab_die "could not set tcp_syn_retries in $LAB_NS_C"

    lab_nft_load
    lab_servers_start
    _lab_log "up: $LAB_NS_C $LAB_NS_FW $LAB_NS_S $LAB_NS_O"
}

lab_nft_load() {
    lab_exec fw nft -f - <<EOF
table inet $LAB_NFT_TABLE {
    counter drop_v4 { }
    counter drop_v6 { }
    counter lossy_v4 { }
    counter lossy_v6 { }
    counter fwd_syn_v4 { }
    counter fwd_syn_v6 { }
    counter replydrop_v4 { }
    counter replydrop_v6 { }
    counter reset_v4 { }
    counter reset_v6 { }
    set lossy_seen {
        typeof tcp sequence
        flags dynamic,timeout
        timeout 5m
    }
    chain forward {
        type filter hook forward priority filter; policy accept;
        meta nfproto ipv4 tcp dport $LAB_PORT_DROP tcp flags & (syn | ack) == syn counter name "drop_v4" drop
        meta nfproto ipv6 tcp dport $LAB_PORT_DROP tcp flags & (syn | ack) == syn counter name "drop_v6" drop
        meta nfproto ipv4 tcp dport $LAB_PORT_LOSSY tcp flags & (syn | ack) == syn tcp sequence != @lossy_seen add @lossy_seen { tcp sequence } counter name "lossy_v4" drop
        meta nfproto ipv6 tcp dport $LAB_PORT_LOSSY tcp flags & (syn | ack) == syn tcp sequence != @lossy_seen add @lossy_seen { tcp sequence } counter name "lossy_v6" drop
        meta nfproto ipv4 tcp sport $LAB_PORT_REPLYDROP tcp flags & (syn | ack) == syn | ack counter name "replydrop_v4" drop
        meta nfproto ipv6 tcp sport $LAB_PORT_REPLYDROP tcp flags & (syn | ack) == syn | ack counter name "replydrop_v6" drop
        meta nfproto ipv4 tcp dport $LAB_PORT_RESET tcp flags & (syn | ack) == syn counter name "reset_v4" reject with tcp reset
        meta nfproto ipv6 tcp dport $LAB_PORT_RESET tcp flags & (syn | ack) == syn counter name "reset_v6" reject with tcp reset
        meta nfproto ipv4 tcp flags & (syn | ack) == syn counter name "fwd_syn_v4"
        meta nfproto ipv6 tcp flags & (syn | ack) == syn counter name "fwd_syn_v6"
    }
}
EOF
    # The server host's own firewall: after the capture point (AF_PACKET sees the SYN first).
    lab_exec server nft -f - <<EOF
table inet $LAB_NFT_TABLE {
    counter hostdrop_v4 { }
    counter hostdrop_v6 { }
    chain input {
        type filter hook input priority filter; policy accept;
        meta nfproto ipv4 tcp dport $LAB_PORT_HOSTDROP tcp flags & (syn | ack) == syn counter name "hostdrop_v4" drop
        meta nfproto ipv6 tcp dport $LAB_PORT_HOSTDROP tcp flags & (syn | ack) == syn counter name "hostdrop_v6" drop
    }
}
EOF
}

# Masquerade everything the client sends towards the server: the server then sees
# the firewall's server-side address (198.18.2.1 / 2001:db8:2::1) and maybe other ports.
lab_nat_on() {
    lab_exec fw nft -f - <<EOF
table inet $LAB_NFT_NAT_TABLE {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "fw-s" masquerade
    }
}
EOF
    LAB_NAT=1
    export LAB_NAT
}

lab_nat_off() {
    lab_exec fw nft delete table inet "$LAB_NFT_NAT_TABLE" 2>/dev/null || true
    LAB_NAT=0
    export LAB_NAT
}

# lab_rewrite_on [MSS]: the firewall randomizes every connection's ISN as Cisco ASA does
# (tests/lib/sm_isnrw.c, $LAB_ISNRW, on NFQUEUE 0 and 1), clamping the MSS to MSS when given.
# It takes the forwarded packets as they leave (mangle POSTROUTING, before NAT on the way to
# the server and after it on the way back: the client's own tuple both ways), so the
# firewall's rules and its own rejections see the client's sequence numbers, as behind an
# ASA's ACL. The firewall's conntrack then sees the server acknowledge numbers the client never
# sent: it is made liberal (nf_conntrack_tcp_be_liberal), as the issue's recipe says, or NAT
# would not take the answers back. Each connection's "REWRITTEN ORIGINAL" ISN goes into
# $LAB_RUN/isnrw.log (lab_truth reads it). Only forwarded packets are queued (marked in
# mangle FORWARD): the kernel drops queued packets of unconfirmed connections it generated
# itself (a reject's RST). No queue bypass: if the program dies, the connections fail and the
# test says so. (nftables' own `queue` is not in every kernel; iptables' NFQUEUE target is.)
lab_rewrite_on() {
    local mss=${1:-} ipt pid
    [ -n "${LAB_ISNRW:-}" ] && [ -x "$LAB_ISNRW" ] ||
        { _lab_die "LAB_ISNRW=${LAB_ISNRW:-}: sm_isnrw not built (needs libnetfilter-queue-dev: scripts/setup.sh)"; return 1; }
    command -v modprobe >/dev/null && modprobe -q nfnetlink_queue 2>/dev/null
    [ -e /proc/net/netfilter/nfnetlink_queue ] ||
        { _lab_die "the kernel has no nfnetlink_queue (CONFIG_NETFILTER_NETLINK_QUEUE)"; return 1; }
    for ipt in iptables-legacy ip6tables-legacy; do
        command -v "$ipt" >/dev/null || { _lab_die "$ipt not installed (apt-get install iptables)"; return 1; }
    done
    (_lab_bg ip netns exec "$LAB_NS_FW" "$LAB_ISNRW" --log "$LAB_RUN/isnrw.log" ${mss:+--mss "$mss"}) \
        >"$LAB_RUN/isnrw.out" 2>&1 &
    pid=$!
    echo "$pid" >>"$LAB_RUN/pids"
    _lab_wait_file_line "$LAB_RUN/isnrw.out" ready 10 "$pid" ||
        { _lab_die "sm_isnrw did not start: $(cat "$LAB_RUN/isnrw.out")"; return 1; }
    _lab_sysctl "$LAB_NS_FW" net.netfilter.nf_conntrack_tcp_be_liberal=1
    for ipt in iptables-legacy ip6tables-legacy; do
        lab_exec fw "$ipt" -t mangle -A FORWARD -p tcp -j MARK --set-mark 0x5a &&
            lab_exec fw "$ipt" -t mangle -A POSTROUTING -o fw-s -p tcp -m mark --mark 0x5a -j NFQUEUE --queue-num 0 &&
            lab_exec fw "$ipt" -t mangle -A POSTROUTING -o fw-c -p tcp -m mark --mark 0x5a -j NFQUEUE --queue-num 1 ||
            { _lab_die "$ipt: could not add the NFQUEUE rules"; return 1; }
    done
    LAB_REWRITE=1
    export LAB_REWRITE
}

# Print "name packets bytes" for every named counter of the lab tables (firewall and server).
lab_counters() {
    local ns
    for ns in fw server; do
        lab_exec "$ns" nft list counters table inet "$LAB_NFT_TABLE" | awk '
            $1 == "counter" { name = $2 }
            $1 == "packets" { print name, $2, $4 }'
    done
}

lab_counter() { # name -> packets
    lab_counters | awk -v n="$1" '$1 == n { print $2; found = 1 } END { exit !found }'
}

lab_servers_start() {
    local ns ports
    for ns in server other; do
        if [ "$ns" = server ]; then
            ports="$LAB_PORT_OK $LAB_PORT_DROP $LAB_PORT_LOSSY $LAB_PORT_REPLYDROP $LAB_PORT_HOSTDROP"
            ports="$ports $LAB_PORT_COOKIES noaccept:$LAB_PORT_FULLQ"
        else
            ports="$LAB_PORT_OTHER"
        fi
        # shellcheck disable=SC2086  # ports are words on purpose
        (_lab_bg ip netns exec "$(lab_ns "$ns")" "$LAB_PY" "$LAB_RUN/server.py" $ports) >"$LAB_RUN/$ns.srv.out" 2>&1 &
        echo "$!" >>"$LAB_RUN/pids"
        _lab_wait_file_line "$LAB_RUN/$ns.srv.out" ready 10 "$!" ||
            _lab_die "listener in $ns did not start: $(cat "$LAB_RUN/$ns.srv.out")"
    done
}

# ---------------------------------------------------------------------------
# Captures
# ---------------------------------------------------------------------------
LAB_CAPTURES="client:c-fw:client.pcap server:s-fw:server.pcap fw:fw-c:firewall_in.pcap"

lab_capture_start() { # DIR
    local dir=$1 spec ns ifname file pid
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    : >"$LAB_RUN/captures"
    for spec in $LAB_CAPTURES; do
        IFS=: read -r ns ifname file <<<"$spec"
        rm -f "$dir/$file"
        # -U: flush per packet; --immediate-mode: no TPACKET_V3 block timeout, so
        # nothing sits in the ring when we stop; -Z root: write as root, no priv drop.
        (_lab_bg ip netns exec "$(lab_ns "$ns")" tcpdump -i "$ifname" -U -s 0 --immediate-mode -Z root \
            --time-stamp-precision nano -w "$dir/$file") 2>"$LAB_RUN/tcpdump.$ifname.err" &
        pid=$!
        echo "$pid" >>"$LAB_RUN/pids"
        echo "$pid $ifname $dir/$file" >>"$LAB_RUN/captures"
    done
    while read -r pid ifname file; do
        _lab_wait_file_line "$LAB_RUN/tcpdump.$ifname.err" "listening on" 10 "$pid" ||
            _lab_die "tcpdump on $ifname did not start: $(cat "$LAB_RUN/tcpdump.$ifname.err")"
    done <"$LAB_RUN/captures"
    _lab_log "capturing into $dir"
}

_lab_wait_stable() { # file...: wait until sizes stop changing for 300 ms (max ~5 s)
    local prev="" cur stable=0 i f
    for ((i = 0; i < 100 && stable < 6; i++)); do
        cur=""
        for f in "$@"; do cur="$cur $(stat -c %s "$f" 2>/dev/null || echo 0)"; done
        if [ "$cur" = "$prev" ]; then stable=$((stable + 1)); else stable=0; fi
        prev=$cur
        sleep 0.05
    done
}

# Stop the captures; print "ifname captured received dropped" per capture to stdout
# (and into DIR/capture_stats.txt). Fails if the kernel dropped packets.
lab_capture_stop() {
    local pid ifname file files=() rc=0 err cap rcv drp dir=""
    [ -s "$LAB_RUN/captures" ] || return 0
    while read -r pid ifname file; do files+=("$file"); dir=${file%/*}; done <"$LAB_RUN/captures"
    _lab_wait_stable "${files[@]}"
    while read -r pid ifname file; do
        kill -TERM "$pid" 2>/dev/null || true
    done <"$LAB_RUN/captures"
    : >"$dir/capture_stats.txt"
    while read -r pid ifname file; do
        wait "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
        err="$LAB_RUN/tcpdump.$ifname.err"
        cap=$(awk '/packets captured/ {print $1}' "$err")
        rcv=$(awk '/packets received by filter/ {print $1}' "$err")
        drp=$(awk '/packets dropped by kernel/ {print $1}' "$err")
        echo "$ifname ${file##*/} captured=${cap:-?} received=${rcv:-?} dropped_by_kernel=${drp:-?}" |
            tee -a "$dir/capture_stats.txt"
        if [ "${drp:-x}" != 0 ] || [ -z "$cap" ]; then
            _lab_log "capture on $ifname incomplete: $(cat "$err")"
            rc=1
        fi
    done <"$LAB_RUN/captures"
    : >"$LAB_RUN/captures"
    return $rc
}

# ---------------------------------------------------------------------------
# Traffic
# ---------------------------------------------------------------------------
# lab_traffic [OUTFILE] [key=value ...]: run the client traffic; the per-connection log
# (kind family sport dst dport syncnt result) goes to OUTFILE (default stdout).
# Keys: n_ok n_reuse n_drop n_drop1 n_ref n_lossy n_other tail_delay, and the handshake faults
# n_replydrop n_hostdrop n_fullq n_cookies n_reset (0 by default; LAB_FAULTS below sets all).
LAB_FAULTS="n_replydrop=2 n_hostdrop=2 n_fullq=2 n_cookies=2 n_reset=2"
lab_traffic() {
    local out=${1:-/dev/stdout}
    [ $# -gt 0 ] && shift
    local pid
    # In the background + wait: a trapped INT/TERM interrupts `wait` at once (bash
    # would otherwise run the trap only after a foreground child has finished).
    (_lab_bg timeout 45 ip netns exec "$LAB_NS_C" "$LAB_PY" "$LAB_RUN/traffic.py" \
        s4="$LAB_S4" s6="$LAB_S6" o4="$LAB_O4" o6="$LAB_O6" \
        p_ok="$LAB_PORT_OK" p_drop="$LAB_PORT_DROP" p_ref="$LAB_PORT_REFUSED" \
        p_lossy="$LAB_PORT_LOSSY" p_other="$LAB_PORT_OTHER" \
        p_replydrop="$LAB_PORT_REPLYDROP" p_hostdrop="$LAB_PORT_HOSTDROP" p_fullq="$LAB_PORT_FULLQ" \
        p_cookies="$LAB_PORT_COOKIES" p_reset="$LAB_PORT_RESET" server_ns="$LAB_NS_S" \
        sp_reuse="$LAB_SPORT_REUSE" sp_reuse_rst="$LAB_SPORT_REUSE_RST" "$@") >"$out" &
    pid=$!
    echo "$pid" >>"$LAB_RUN/pids"
    wait "$pid"
}

# lab_connect PHASE DST PORT N SPORT: N connections in turn from the client to DST:PORT, from
# source ports SPORT, SPORT+1, ... (one retransmission: ~3 s when dropped), each sending a
# line; prints "PHASE sport" per connection (one write each: parallel calls may share a file).
# The ports must lie below the client's ephemeral range (32768-60999): inside it, an agent's
# own connection (to NATS, to a collector) may hold one, and bind() fails (seen once in CI).
lab_connect() {
    if [ "$5" -lt 1024 ] || [ "$(($5 + $4))" -gt 32768 ]; then
        _lab_die "lab_connect: source ports $5.. not within 1024-32767"
        return 1
    fi
    lab_exec client "$LAB_PY" - "$@" <<'PY'
import os, socket, sys
phase, dst, port, n, sport = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
for i in range(n):
    s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, 1)
    s.settimeout(5)
    s.bind(("::" if ":" in dst else "0.0.0.0", sport + i))
    os.write(1, ("%s %d\n" % (phase, s.getsockname()[1])).encode())
    try:
        s.connect((dst, port)); s.sendall(b"hi\n"); s.recv(100)
    except OSError:
        pass
    s.close()
PY
}

# lab_truth DIR NAT: from DIR/{client,server,firewall_in}.pcap, DIR/traffic.tsv and
# DIR/nft_counters.txt, writes the truth files (expected.tsv, dropped_*.txt, summary.txt...)
# and cross-checks them (tests/lib/truth.py). Fails if a check fails.
lab_truth() {
    local dir=$1 nat=${2:-0} f
    for f in client server firewall_in; do
        lab_pcap_syns "$dir/$f.pcap" >"$LAB_RUN/$f.syns"
    done
    if [ -s "$LAB_RUN/isnrw.log" ]; then
        # The ISNs the firewall rewrote, as the client chose them (keep the log for the test).
        cp "$LAB_RUN/isnrw.log" "$dir/isn_rewrites.txt"
        _lab_unrewrite "$dir/isn_rewrites.txt" <"$LAB_RUN/server.syns" >"$LAB_RUN/server.syns.orig" &&
            mv "$LAB_RUN/server.syns.orig" "$LAB_RUN/server.syns"
    fi
    "$LAB_PY" "$LAB_ROOT/tests/lib/truth.py" \
        --client "$LAB_RUN/client.syns" --server "$LAB_RUN/server.syns" --fw "$LAB_RUN/firewall_in.syns" \
        --traffic "$dir/traffic.tsv" --counters "$dir/nft_counters.txt" --outdir "$dir" \
        --nat "$nat" --syn-retries "$LAB_SYN_RETRIES" \
        --client-ips "$LAB_C4,$LAB_C6" --server-ips "$LAB_S4,$LAB_S6" --other-ips "$LAB_O4,$LAB_O6" \
        --nat-ips "$LAB_FWS4,$LAB_FWS6" \
        --ports "$LAB_PORT_OK,$LAB_PORT_DROP,$LAB_PORT_REFUSED,$LAB_PORT_LOSSY,$LAB_PORT_OTHER" \
        --fault-ports "$LAB_PORT_REPLYDROP,$LAB_PORT_HOSTDROP,$LAB_PORT_FULLQ,$LAB_PORT_COOKIES,$LAB_PORT_RESET" \
        --sport-reuse "$LAB_SPORT_REUSE" --sport-reuse-rst "$LAB_SPORT_REUSE_RST" --rewrite "${LAB_REWRITE:-0}"
}

# _lab_unrewrite LOG: pcap_syns lines with the client's ISNs where the firewall rewrote them
# (a SYN's seq; a SYN/ACK's or RST's ack - 1; an RST's seq or seq - 1).
_lab_unrewrite() {
    "$LAB_PY" -c '
import sys
m = {}
for l in open(sys.argv[1]):
    new, orig = map(int, l.split())
    m[new] = orig
def back(v, d):
    v = (v - d) % 2**32
    return None if v not in m else (m[v] + d) % 2**32
for line in sys.stdin:
    f = line.rstrip("\n").split("\t")
    fl, seq, ack = int(f[6], 16), int(f[7]), int(f[8])
    if fl & 0x12 == 0x02:
        seq = back(seq, 0) if back(seq, 0) is not None else seq
    elif fl & 0x10:
        ack = back(ack, 1) if back(ack, 1) is not None else ack
    elif fl & 0x04:
        b = back(seq, 1) if back(seq, 1) is not None else back(seq, 0)
        seq = b if b is not None else seq
    f[7], f[8] = str(seq), str(ack)
    print("\t".join(f))
' "$1"
}

# lab_pcap_syns FILE...: every SYN/RST packet as TSV
#   ts_ns family src sport dst dport flags_hex seq ack
lab_pcap_syns() {
    "$LAB_PY" "$LAB_RUN/pcap_syns.py" "$@"
}

# ---------------------------------------------------------------------------
# Teardown
# ---------------------------------------------------------------------------
_lab_kill_ns_procs() { # ns: kill what runs inside our namespace (processes we started)
    local pids p
    pids=$(ip netns pids "$1" 2>/dev/null || true)
    [ -n "$pids" ] || return 0
    for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        pids=$(ip netns pids "$1" 2>/dev/null || true)
        [ -n "$pids" ] || return 0
        sleep 0.1
    done
    for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
}

# lab_test_begin: the common start of a test script. Makes $out (a temporary directory the
# agents can traverse once they run as nobody; kept when KEEP is set), installs traps that
# stop the caller's collector ($cpid, even when SIGSTOPped), its background jobs and the lab,
# then brings the lab up.
lab_test_begin() {
    out=$(mktemp -d)
    chmod 711 "$out"
    [ -n "${KEEP:-}" ] && echo "keeping $out"
    trap _lab_test_end EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    LAB_NO_TRAP=1 lab_up 2>/dev/null
}

_lab_test_end() {
    if [ -n "${cpid:-}" ]; then
        kill -CONT "$cpid" 2>/dev/null || true
        kill "$cpid" 2>/dev/null || true
    fi
    kill $(jobs -p) 2>/dev/null || true
    lab_down
    [ -n "${KEEP:-}" ] || rm -rf "$out"
}

lab_down() {
    local p ns
    lab_names
    if [ -f "$LAB_RUN/pids" ]; then
        while read -r p; do kill -TERM "$p" 2>/dev/null || true; done <"$LAB_RUN/pids"
    fi
    for ns in "$LAB_NS_C" "$LAB_NS_FW" "$LAB_NS_S" "$LAB_NS_O"; do
        if [ -e "/run/netns/$ns" ]; then
            _lab_kill_ns_procs "$ns"
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
    if [ -f "$LAB_RUN/pids" ]; then
        while read -r p; do
            wait "$p" 2>/dev/null || true
        done <"$LAB_RUN/pids"
    fi
    rm -rf "$LAB_RUN"
    return 0
}

# Remove default-named labs (smt<pid>-*) whose owning process no longer exists.
lab_gc() {
    local ns pid
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
        [[ $ns =~ ^smt([0-9]+)-(client|fw|server|other)$ ]] || continue
        pid=${BASH_REMATCH[1]}
        kill -0 "$pid" 2>/dev/null && continue
        _lab_log "gc: removing stale namespace $ns"
        _lab_kill_ns_procs "$ns"
        ip netns del "$ns" 2>/dev/null || true
        rm -rf "${TMPDIR:-/tmp}/synmatch-lab.smt$pid"
    done
}

# ---------------------------------------------------------------------------
# Direct execution
# ---------------------------------------------------------------------------
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    case "${1:-}" in
        up) LAB_NO_TRAP=1 LAB_PDEATHSIG=0 lab_up ;;
        down) lab_down ;;
        gc) lab_gc ;;
        demo)
            [ -n "${2:-}" ] || { echo "usage: $0 demo DIR" >&2; exit 2; }
            lab_up
            [ "${3:-}" = --nat ] && lab_nat_on
            lab_capture_start "$2"
            lab_traffic "$2/traffic.tsv"
            lab_capture_stop
            lab_counters
            ;;
        *)
            echo "usage: LAB=name $0 up|down|gc|demo DIR [--nat]" >&2
            exit 2
            ;;
    esac
fi
