#!/usr/bin/env python3
"""sandbox_check.py - what a program did under strace, against what its systemd unit allows.

    sandbox_check.py UNIT STRACE_LOG WRITABLE_DIR...

The test machine has no systemd as PID 1, so the units' sandbox cannot be applied to a run;
this checks the run against it instead, from `strace -f -o STRACE_LOG` of the unit's
ExecStart (started through setpriv, whose own calls before the program's execve are left out):

  - every system call made is allowed by the unit's SystemCallFilter= lines, applied as
    systemd applies them (the first line an allow list, a later one adding, a `~` line taking
    away), the @groups expanded by `systemd-analyze syscall-filter` of this machine;
  - every file opened for writing or created is under a WRITABLE_DIR (ProtectSystem=strict
    leaves only the unit's RuntimeDirectory and LogsDirectory writable) or is /dev/null;
  - nothing under /home, /root or /run/user is opened (ProtectHome=yes);
  - nothing under /proc but /proc/self, /proc/thread-self and /proc/PID (ProcSubset=pid).

Prints one ok line, or each violation; exits 1 on any.
"""
import re
import subprocess
import sys

unit, log, writable = sys.argv[1], sys.argv[2], sys.argv[3:]
program = None
filters = []
for line in open(unit):
    line = line.strip()
    if line.startswith("SystemCallFilter="):
        filters.append(line.split("=", 1)[1])
    elif line.startswith("ExecStart="):
        program = line.split("=", 1)[1].split()[0]

groups = {}


def expand(name):
    """The system calls of a name: itself, or a @group's members, recursively."""
    if not name.startswith("@"):
        return {name}
    if name not in groups:
        out = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True,
                             text=True, check=True).stdout.splitlines()
        members = set()
        for l in out[1:]:
            l = l.strip()
            if not l or l.startswith("#"):
                continue
            members |= expand(l)
        groups[name] = members
    return groups[name]


allowed = None
for f in filters:
    deny = f.startswith("~")
    names = set()
    for n in f.lstrip("~").split():
        names |= expand(n)
    if allowed is None:
        if deny:
            sys.exit("%s: a deny-list filter first is not handled by this check" % unit)
        allowed = set(names)
    elif deny:
        allowed -= names
    else:
        allowed |= names
if allowed is None:
    sys.exit("%s: no SystemCallFilter" % unit)

call = re.compile(r"^(\d+)\s+([a-z_0-9]+)\((.*)$")
main_pid, started, used, bad = None, set(), {}, []
for line in open(log):
    m = call.match(line)
    if not m:
        continue
    pid, name, rest = m.group(1), m.group(2), m.group(3)
    if main_pid is None:
        main_pid = pid
    if pid == main_pid and pid not in started:
        if name == "execve" and rest.startswith('"%s"' % program) and re.search(r"= 0$", rest):
            started.add(pid)
        continue
    used[name] = used.get(name, 0) + 1
    if name in ("open", "openat", "openat2", "creat", "mkdir", "mkdirat", "unlink", "unlinkat",
                "rename", "renameat", "renameat2", "bind", "connect"):
        pm = re.search(r'"([^"]*)"', rest)
        if not pm:
            continue
        path = pm.group(1)
        if name in ("bind", "connect"):
            # sockaddr_un paths: a socket file made by bind is a write
            pm = re.search(r'sun_path="([^"]*)"', rest)
            if not pm or name == "connect":
                continue
            path = pm.group(1)
        writes = name not in ("open", "openat", "openat2") or re.search(r"O_(WRONLY|RDWR|CREAT)", rest)
        if writes and path != "/dev/null" and not any(path == d or path.startswith(d + "/") for d in writable):
            bad.append("writes %s (%s): ProtectSystem=strict allows %s" % (path, name, " ".join(writable)))
        if re.match(r"^/(home|root|run/user)(/|$)", path):
            bad.append("opens %s: ProtectHome=yes" % path)
        pm = re.match(r"^/proc/([^/]+)", path)
        if pm and not (pm.group(1) in ("self", "thread-self") or pm.group(1).isdigit()):
            bad.append("opens %s: ProcSubset=pid hides it" % path)

if main_pid not in started:
    bad.append("no execve of %s in %s" % (program, log))
for name in sorted(used):
    if name not in allowed:
        bad.append("system call %s (%d times) is not allowed by SystemCallFilter" % (name, used[name]))
seen = set()
for b in bad:
    if b not in seen:
        print("FAIL %s: %s" % (program, b))
        seen.add(b)
if not bad:
    print("ok   %s: %d kinds of system call, %d calls, all allowed by its unit's SystemCallFilter "
          "(%d allowed); files written only under %s; nothing of /home, /root, or /proc beyond "
          "its own pid" % (program, len(used), sum(used.values()), len(allowed), " ".join(writable)))
sys.exit(1 if bad else 0)
