#!/usr/bin/env bash
# Log lines for the journal: when JOURNAL_STREAM names the program's standard error (as
# systemd sets it for a unit whose output goes to the journal), each line starts with its
# syslog priority and carries no program name (the journal adds name, pid and time); when it
# names another stream, or is malformed, lines are as ever "program: text".
#   tests/golden/test_log_journal.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
# A usage error (a warning, then exit 2) and a fatal configuration error (exit 10).
run() { # JOURNAL_STREAM_VALUE NAME
    local js=$1 name=$2
    : >"$tmp/$name.err"
    exec 3>>"$tmp/$name.err"
    [ "$js" = self ] && js=$(stat -L -c '%d:%i' "$tmp/$name.err")
    JOURNAL_STREAM=$js "$build/synmatch-collector" --listen tcp://198.18.0.1:7400 2>&3 || true
    JOURNAL_STREAM=$js "$build/synmatch-collector" --config /nonexistent.conf 2>&3 || true
    exec 3>&-
}
run self journal
run 1:2 other
run garbage bad
want_j=$'<4>refusing to listen on tcp://198.18.0.1:7400 without keys: anyone could send records; use --key and --allow, or --insecure on a trusted network\n<3>configuration file /nonexistent.conf: No such file or directory'
want_p=$'synmatch-collector: refusing to listen on tcp://198.18.0.1:7400 without keys: anyone could send records; use --key and --allow, or --insecure on a trusted network\nsynmatch-collector: configuration file /nonexistent.conf: No such file or directory'
[ "$(cat "$tmp/journal.err")" = "$want_j" ] && echo "ok   stderr is the journal: priority prefixes (<4> warning, <3> fatal), no program name" ||
    { echo "FAIL for the journal:"; cat "$tmp/journal.err"; fail=1; }
for n in other bad; do
    [ "$(cat "$tmp/$n.err")" = "$want_p" ] && echo "ok   JOURNAL_STREAM of another stream ($n): plain lines" ||
        { echo "FAIL JOURNAL_STREAM $n:"; cat "$tmp/$n.err"; fail=1; }
done
exit "$fail"
