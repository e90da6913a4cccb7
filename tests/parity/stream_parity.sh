#!/usr/bin/env bash
# tcp.stream parity with tshark: for every frame of every capture given (files, or directories
# of .pcap/.pcapng), `synmatch streams` must print exactly what
# `tshark -T fields -e frame.number -e tcp.stream` prints with default preferences. A capture
# whose name holds "_bound" goes past a bound of synmatch's own (nesting depth): there every
# frame before the one synmatch names on stderr ("numbering may differ from Wireshark's from
# frame N") must be equal, frame N must be one that differs, and the report must be there.
#   tests/parity/stream_parity.sh SYNMATCH CAPTURE_OR_DIR...
set -euo pipefail
synmatch=$1
shift
cfg=$(mktemp -d)
trap 'rm -rf "$cfg"' EXIT

files=()
for a in "$@"; do
    if [ -d "$a" ]; then
        while IFS= read -r f; do files+=("$f"); done < <(find "$a" -maxdepth 1 -name '*.pcap*' | sort)
    else
        files+=("$a")
    fi
done
[ ${#files[@]} -gt 0 ] || { echo "stream_parity: no captures given" >&2; exit 1; }

fail=0
frames=0
tcp=0
for f in "${files[@]}"; do
    HOME=$cfg XDG_CONFIG_HOME=$cfg tshark -n -r "$f" -T fields -e frame.number -e tcp.stream \
        >"$cfg/want" 2>/dev/null || true
    "$synmatch" streams "$f" >"$cfg/got" 2>"$cfg/err" || true
    n=$(wc -l <"$cfg/want")
    [ "$n" -gt 0 ] || { echo "FAIL $f: tshark printed nothing"; fail=$((fail + 1)); continue; }
    frames=$((frames + n))
    tcp=$((tcp + $(awk -F'\t' '$2 != ""' "$cfg/want" | wc -l)))
    if [[ ${f##*/} == *_bound* ]]; then
        from=$(sed -n "s/.*numbering may differ from Wireshark's from frame \([0-9]*\).*/\1/p" "$cfg/err" | head -n 1)
        first=$(diff <(cat -n "$cfg/want") <(cat -n "$cfg/got") | sed -n 's/^< *\([0-9]*\).*/\1/p' | head -n 1 || true)
        if [ -z "$from" ] || [ "$first" != "$from" ]; then
            fail=$((fail + 1))
            echo "FAIL $f: first frame differing from tshark ${first:-none}, reported bound from frame ${from:-none}"
            sed 's/^/  stderr: /' "$cfg/err" | head -n 3
        fi
        continue
    fi
    if ! cmp -s "$cfg/want" "$cfg/got"; then
        fail=$((fail + 1))
        echo "FAIL $f: $(diff "$cfg/want" "$cfg/got" | grep -c '^>' || true) frames differ (< tshark, > synmatch):"
        diff "$cfg/want" "$cfg/got" | head -n 10
        sed 's/^/  stderr: /' "$cfg/err" | head -n 3
    fi
done
echo "stream parity: ${#files[@]} captures, $frames frames, $tcp with a tcp.stream; $fail captures differ"
[ "$fail" -eq 0 ]
