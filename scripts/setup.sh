#!/usr/bin/env bash
# Installs everything synmatch needs to build, test and run its demo on Debian 12, then builds.
#
#   scripts/setup.sh [BUILD_DIR]     (as root; BUILD_DIR defaults to ./build)
#
# Idempotent: packages already present are not reinstalled, an existing build is reused.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build}

packages=(
    build-essential cmake pkg-config clang libclang-rt-14-dev
    libpcap-dev libzmq3-dev libprotobuf-c-dev protobuf-c-compiler
    tshark tcpdump tcpreplay nftables iptables iproute2 ethtool python3
    libnetfilter-queue-dev libnats-dev liblz4-dev nats-server
    git debhelper lintian man-db systemd logrotate strace
    nettle-dev libjansson-dev libncurses-dev chromium tmux
    libmicrohttpd-dev prometheus
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup: missing packages (${missing[*]}); run as root to install them" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # tshark asks whether non-root users may capture; answer no without a prompt.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The tests run Prometheus on their own port and data directory; the packaged service, if
    # installing started one, is not wanted.
    if [[ " ${missing[*]} " == *" prometheus "* ]]; then
        systemctl stop prometheus 2>/dev/null || service prometheus stop 2>/dev/null || true
        systemctl disable prometheus 2>/dev/null || true
    fi
fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSM_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
