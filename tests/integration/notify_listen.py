# notify_listen.py SOCKET LOG FILE_TO_CHECK - stand-in for systemd's notify socket in tests.
# Binds a unix datagram socket and appends one line per datagram to LOG:
#   "<seq> endpoint=<yes|no> <message, newlines as ' | '>"
# where endpoint says whether FILE_TO_CHECK existed when the datagram arrived (READY=1 must
# only come once the daemon is bound and has written its endpoint file). Runs until killed.
import os
import socket
import sys

sock_path, log_path, check_path = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sock_path + ".tmp")
# Renamed into place so that the test's wait for the path also means "bound".
os.rename(sock_path + ".tmp", sock_path)
seq = 0
with open(log_path, "a", buffering=1) as log:
    while True:
        data = s.recv(65536)
        seq += 1
        exists = "yes" if os.path.exists(check_path) else "no"
        text = data.decode("utf-8", "replace").strip().replace("\n", " | ")
        log.write("%d endpoint=%s %s\n" % (seq, exists, text))
