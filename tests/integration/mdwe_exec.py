# mdwe_exec.py PROGRAM ARGS... - run PROGRAM with the kernel's memory-deny-write-execute
# (prctl PR_SET_MDWE, Linux 6.3+), the per-process form of systemd's MemoryDenyWriteExecute=:
# no mapping may be writable and executable, or become executable later. The setting is
# inherited by children (paramd's local workers). Exits 77 when the kernel lacks it, or
# when a writable+executable mapping still succeeds (then MDWE is not in force).
import ctypes
import mmap
import os
import sys

PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1

libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
    sys.stderr.write("mdwe_exec: prctl(PR_SET_MDWE): %s\n" % os.strerror(ctypes.get_errno()))
    sys.exit(77)
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.stderr.write("mdwe_exec: a W+X mapping succeeded: MDWE is not in force\n")
    sys.exit(77)
except OSError:
    pass
os.execv(sys.argv[1], sys.argv[1:])
