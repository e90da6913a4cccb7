#!/usr/bin/env bash
# NATS JetStream for the tests: a cluster of real nats-server processes (Debian's 2.9), on
# loopback or in a namespace of the lab joined to the client, server and other namespaces by
# links of their own (so the agents' captures never see NATS traffic), TLS material made with
# openssl, and per-identity permissions as docs/DEPLOY.md describes them.
#
# Source it (after tests/lib/lab.sh when a namespace is wanted) and call:
#   nats_tls_make DIR NAME...          a CA, a server certificate, a client certificate per NAME
#   nats_cluster_up DIR N [NS]         N servers forming a JetStream cluster (N=1: one server);
#                                      sets NATS_URL (nats://host:port,...) and NATS_PIDS
#   nats_node_kill I                   SIGKILL server I (1-based); nats_node_start I restarts it
#   nats_cluster_down                  stops them all (idempotent)
#   nats_lab_link                      the namespace $LAB-nats linked to client, server, other
# With NATS_TLS_DIR set (by nats_tls_make) the servers require TLS client certificates and map
# each certificate's name to a user with the permissions of its role (scripts/nats-auth.sh).
# Every wait is bounded; a server that does not come up prints its log and fails.

NATS_HOST=${NATS_HOST:-127.0.0.1}
NATS_PIDS=()
NATS_DIR=
NATS_NS=

# nats_free_port: a TCP port nothing listens on now (in the current namespace).
nats_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# nats_lab_link: the namespace "$LAB-nats" with one link to each of the lab's client, server
# and other namespaces (198.19.250.0/24, /30 each): NATS at 198.19.250.1 (seen from the
# client), .5 (server), .9 (other). Sets NATS_NS and NATS_ADDR_{C,S,O}.
nats_lab_link() {
    NATS_NS="$LAB-nats"
    ip netns add "$NATS_NS"
    ip -n "$NATS_NS" link set lo up
    local i=0 ns peer
    for ns in "$LAB_NS_C" "$LAB_NS_S" "$LAB_NS_O"; do
        peer=n$i
        ip -n "$NATS_NS" link add "$peer" type veth peer name nats0 netns "$ns"
        ip -n "$NATS_NS" addr add "198.19.250.$((i * 4 + 1))/30" dev "$peer"
        ip -n "$ns" addr add "198.19.250.$((i * 4 + 2))/30" dev nats0
        ip -n "$NATS_NS" link set "$peer" up
        ip -n "$ns" link set nats0 up
        i=$((i + 1))
    done
    NATS_ADDR_C=198.19.250.1
    NATS_ADDR_S=198.19.250.5
    NATS_ADDR_O=198.19.250.9
    NATS_HOST=0.0.0.0
}

nats_lab_unlink() {
    [ -n "$NATS_NS" ] && [ -e "/run/netns/$NATS_NS" ] && ip netns del "$NATS_NS" 2>/dev/null
    return 0
}

# nats_in_ns CMD...: CMD in the NATS namespace when there is one.
nats_in_ns() {
    if [ -n "$NATS_NS" ]; then ip netns exec "$NATS_NS" "$@"; else "$@"; fi
}

# nats_tls_make DIR NAME...: DIR/ca.pem, DIR/server.{pem,key}, DIR/NAME.{pem,key} for each NAME
# (the certificate's CN is NAME: the servers map it to the user NAME).
nats_tls_make() {
    local dir=$1 n
    shift
    mkdir -p "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=synmatch test CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null || return 1
    printf 'subjectAltName=IP:127.0.0.1,IP:198.19.250.1,IP:198.19.250.5,IP:198.19.250.9,DNS:localhost\n' >"$dir/san.ext"
    for n in server "$@"; do
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$n" \
            -keyout "$dir/$n.key" -out "$dir/$n.csr" 2>/dev/null || return 1
        openssl x509 -req -in "$dir/$n.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
            -CAcreateserial -days 2 -extfile "$dir/san.ext" -out "$dir/$n.pem" 2>/dev/null || return 1
    done
    NATS_TLS_DIR=$dir
}

# nats_cluster_up DIR N: N nats-server processes, JetStream in DIR/nI, a cluster when N > 1
# (routes on loopback). Waits until JetStream answers (bounded). Sets NATS_URL, NATS_PORTS.
nats_cluster_up() {
    NATS_DIR=$1
    local n=$2 i
    mkdir -p "$NATS_DIR"
    NATS_PORTS=()
    local routes=() rports=()
    for ((i = 1; i <= n; i++)); do
        NATS_PORTS+=("$(nats_in_ns python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')")
        rports+=("$(nats_in_ns python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')")
        routes+=("nats-route://127.0.0.1:${rports[$((i - 1))]}")
    done
    local auth=""
    if [ -n "${NATS_TLS_DIR:-}" ]; then # the project's own authorization block for the names
        local f ids=()
        for f in "$NATS_TLS_DIR"/*.pem; do
            case "$(basename "$f" .pem)" in ca | server) ;; *) ids+=("$(basename "$f" .pem)") ;; esac
        done
        auth=$("$(dirname "${BASH_SOURCE[0]}")/../../scripts/nats-auth.sh" "${ids[@]}") || return 1
    fi
    for ((i = 1; i <= n; i++)); do
        local conf=$NATS_DIR/n$i.conf
        {
            echo "server_name: n$i"
            echo "listen: $NATS_HOST:${NATS_PORTS[$((i - 1))]}"
            echo "jetstream { store_dir: \"$NATS_DIR/n$i\", max_memory_store: 256MB, max_file_store: 2GB }"
            if [ "$n" -gt 1 ]; then
                local r
                r=$(IFS=,; echo "${routes[*]}")
                echo "cluster { name: synmatch-test, listen: 127.0.0.1:${rports[$((i - 1))]}, no_advertise: true, routes: [${r//,/, }] }"
            fi
            if [ -n "${NATS_TLS_DIR:-}" ]; then
                echo "tls { cert_file: \"$NATS_TLS_DIR/server.pem\", key_file: \"$NATS_TLS_DIR/server.key\", ca_file: \"$NATS_TLS_DIR/ca.pem\", verify_and_map: true }"
                printf '%s\n' "$auth"
            fi
        } >"$conf"
        nats_node_start "$i" || return 1
    done
    local hostp=()
    for ((i = 1; i <= n; i++)); do hostp+=("${NATS_CONNECT_HOST:-127.0.0.1}:${NATS_PORTS[$((i - 1))]}"); done
    NATS_URL="nats://$(IFS=,; echo "${hostp[*]}")"
    # JetStream answers once the cluster has a meta leader: ask until it does.
    local t
    for ((t = 0; t < 150; t++)); do
        grep -q "JetStream cluster new metadata leader\|Starting JetStream" "$NATS_DIR"/n*.log 2>/dev/null &&
            { [ "$n" -eq 1 ] || grep -q "new metadata leader" "$NATS_DIR"/n*.log; } && return 0
        sleep 0.1
    done
    echo "FAIL the NATS cluster did not form in 15 s:" >&2
    tail -n 20 "$NATS_DIR"/n*.log >&2
    return 1
}

# nats_node_start I: (re)starts server I with its config; waits until it listens.
nats_node_start() {
    local i=$1 t
    # started directly (not through a function), so that $! is nats-server itself: a
    # SIGKILL must reach it, not a subshell whose death would only stop it politely
    if [ -n "$NATS_NS" ]; then
        ip netns exec "$NATS_NS" setpriv --pdeathsig TERM nats-server -c "$NATS_DIR/n$i.conf" \
            >>"$NATS_DIR/n$i.log" 2>&1 &
    else
        setpriv --pdeathsig TERM nats-server -c "$NATS_DIR/n$i.conf" >>"$NATS_DIR/n$i.log" 2>&1 &
    fi
    NATS_PIDS[$i]=$!
    for ((t = 0; t < 100; t++)); do
        grep -q "Server is ready" "$NATS_DIR/n$i.log" 2>/dev/null && return 0
        kill -0 "${NATS_PIDS[$i]}" 2>/dev/null || break
        sleep 0.1
    done
    echo "FAIL nats-server n$i did not start:" >&2
    tail -n 20 "$NATS_DIR/n$i.log" >&2
    return 1
}

nats_node_kill() {
    kill -KILL "${NATS_PIDS[$1]}" 2>/dev/null || true
    wait "${NATS_PIDS[$1]}" 2>/dev/null || true
}

nats_cluster_down() {
    local p
    for p in "${NATS_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${NATS_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    NATS_PIDS=()
    return 0
}

# nats_tls_args NAME: the synmatch options of the identity NAME.
nats_tls_args() {
    [ -n "${NATS_TLS_DIR:-}" ] || return 0
    echo "--nats-ca $NATS_TLS_DIR/ca.pem --nats-cert $NATS_TLS_DIR/$1.pem --nats-key $NATS_TLS_DIR/$1.key"
}
