#!/usr/bin/env bash
# The man pages (man/, mdoc) against the programs: every long option of every getopt table
# (agent/main.c, collector/main.c, cli/cmd_*.c) appears in its program's rendered page and in
# its --help; each page renders without a warning and names the project's version. So an
# option added to a program without a line in its man page fails here.
#   tests/unit/check_manpages.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
version=$(sed -n 's/^project(synmatch VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
options_of() { grep -ohE '\{"[a-z0-9-]+", *(no|required|optional)_argument' "$@" | sed -E 's/^\{"([^"]+)".*/\1/' | sort -u; }
# page PROGRAM SOURCES... : the page's and --help's options against the sources' tables
check() {
    local page=$1 prog=$2
    shift 2
    local n=0 missing=() nohelp=() o
    LC_ALL=C.UTF-8 MANWIDTH=100 man --warnings -l "$src/man/$page" >"$tmp/page" 2>"$tmp/warn" || true
    if [ -s "$tmp/warn" ]; then
        echo "FAIL man/$page: warnings:"; cat "$tmp/warn"; fail=1
    fi
    grep -q "synmatch $version" "$tmp/page" || { echo "FAIL man/$page: does not say version $version (.Os)"; fail=1; }
    : >"$tmp/help"
    case $prog in
        synmatch) for c in compare streams tail keygen; do "$build/synmatch" $c --help >>"$tmp/help" 2>&1 || true; done ;;
        *) "$build/$prog" --help >"$tmp/help" ;;
    esac
    for o in $(options_of "$@"); do
        n=$((n + 1))
        grep -q -- "--$o\b" "$tmp/page" || missing+=("--$o")
        grep -q -- "--$o\b" "$tmp/help" || nohelp+=("--$o")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "FAIL man/$page does not describe ${missing[*]}"; fail=1
    fi
    if [ "${#nohelp[@]}" -gt 0 ]; then
        echo "FAIL $prog --help does not describe ${nohelp[*]}"; fail=1
    fi
    if [ "${#missing[@]}" -eq 0 ] && [ "${#nohelp[@]}" -eq 0 ]; then
        echo "ok   man/$page and $prog --help describe all $n long options of its tables"
    fi
}
check synmatch-agent.8 synmatch-agent "$src/agent/main.c"
check synmatch-collector.8 synmatch-collector "$src/collector/main.c"
check synmatch.1 synmatch "$src"/cli/cmd_*.c
# The check can fail: a page without one option is caught.
sed '/^\.It Fl -snaplen/,+1d' "$src/man/synmatch-agent.8" >"$tmp/cut.8"
MANWIDTH=100 man -l "$tmp/cut.8" 2>/dev/null | grep -q -- '--snaplen' && { echo "FAIL the self-check: --snaplen still rendered"; fail=1; } ||
    echo "ok   self-check: a page with --snaplen removed does not render it"
exit "$fail"
