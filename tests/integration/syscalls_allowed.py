# syscalls_allowed.py UNIT STRACE_OUTPUT - check that every system call in an `strace -f -o`
# log would pass the unit's SystemCallFilter= lines. The lines are applied in order, as
# systemd does for an allow-list: the first (without ~) starts the list, a later "~..." line
# removes its calls, a later plain line adds them back. Groups (@name) are expanded with
# `systemd-analyze syscall-filter`, the local systemd's idea of them. Prints the calls that
# would be refused and exits 1 if there are any.
import re
import subprocess
import sys

cache = {}


def expand(name):
    if not name.startswith("@"):
        return {name}
    if name in cache:
        return cache[name]
    out = subprocess.run(["systemd-analyze", "syscall-filter", name], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines()[1:]:
        line = line.strip()
        if line and not line.startswith("#"):
            names |= expand(line)
    cache[name] = names
    return names


allowed = None
with open(sys.argv[1]) as f:
    for line in f:
        line = line.strip()
        if not line.startswith("SystemCallFilter="):
            continue
        spec = line.split("=", 1)[1].strip()
        deny = spec.startswith("~")
        names = set()
        for tok in spec.lstrip("~").split():
            names |= expand(tok)
        if allowed is None:
            if deny:
                sys.exit("syscalls_allowed: the unit's filter is a deny-list; not handled here")
            allowed = names
        elif deny:
            allowed -= names
        else:
            allowed |= names
if allowed is None:
    sys.exit("syscalls_allowed: the unit has no SystemCallFilter=")

used = set()
call = re.compile(r"^\d+\s+([a-z0-9_]+)\(")
with open(sys.argv[2]) as f:
    for line in f:
        m = call.match(line)
        if m:
            used.add(m.group(1))
refused = sorted(used - allowed)
print("%d distinct system calls used, %d allowed by the unit" % (len(used), len(allowed)))
if refused:
    print("refused by the unit's SystemCallFilter: " + " ".join(refused))
    sys.exit(1)
