#!/usr/bin/python3
"""pty_run.py COLUMNS OUTFILE CMD... - run CMD with stderr (and stdin, stdout) on a new
pseudo-terminal COLUMNS wide and save every byte written to it in OUTFILE, as a terminal
would receive them. Exits with CMD's exit status. For tests of what a user sees."""
import fcntl
import os
import pty
import struct
import sys
import termios


def main():
    cols, out_path, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    # no \n -> \r\n translation: the test reads the bytes the program wrote
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    pid = os.fork()
    if pid == 0:
        os.setsid()
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        os.close(master)
        os.close(slave)
        os.execvp(cmd[0], cmd)
    os.close(slave)
    with open(out_path, "wb") as out:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not data:
                break
            out.write(data)
            out.flush()
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status) & 0xFF)


if __name__ == "__main__":
    main()
