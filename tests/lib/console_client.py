#!/usr/bin/python3
"""Drives interactive consoles for the root tests.

console_client.py fwctl FWCTL console ID -- STEP...
    Runs `FWCTL console ID` (every word up to "--") on a new pseudo-terminal, as a user
    would in a terminal, then runs the steps in order:
      send=TEXT    types TEXT (Python escapes allowed: \\r, \\x1d)
      expect=TEXT  waits (10 s at most) until TEXT appears in fwctl's output (stdout and
                   stderr, both on the terminal) after the previous expect's match
      sh=COMMAND   runs COMMAND with /bin/sh; it must exit 0
      sleep=SECS   waits
      exit=N       waits (10 s at most) until fwctl exits with status N
      size=RxC     resizes the terminal to R rows and C columns and sends fwctl SIGWINCH,
                   as a terminal emulator does
      kill=SIG     sends fwctl the signal SIG (INT, TERM, ...)
    and checks that the terminal was restored (echo and canonical mode back on).
    A word "---" instead of "--" ends fwctl's words (for `exec -t ID -- CMD`), and
    "--size=RxC" before FWCTL gives the terminal that size from the start.
    Example: console_client.py fwctl /path/fwctl console brave_turing -- \\
               expect='[waiting' sh='fwctl start brave_turing' send='echo hi\\r' \\
               expect=hi send='\\x1d' exit=0
console_client.py pts PATH COMMAND EXPECT
    Opens the pts at PATH as a plain program would, writes COMMAND + "\\r" and waits
    (10 s at most) until EXPECT is read back ("" reads nothing).
console_client.py hold SOCKET ID SECONDS
    Sends CONSOLE ID over the daemon's socket, prints "attached" once the reply came, then
    reads nothing for SECONDS (a client that never reads) and closes.

Exits 0 when every step passed; otherwise prints the failing step and the transcript.
"""

import fcntl
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import time

TIMEOUT = 10.0


def fail(message, transcript=b""):
    print(f"console_client: {message}", file=sys.stderr)
    if transcript:
        print("--- transcript ---", file=sys.stderr)
        # The end says most; a flood of output would drown the log.
        print(transcript[-4000:].decode("utf-8", errors="replace"), file=sys.stderr)
    sys.exit(1)


def unescape(text):
    return text.encode("utf-8").decode("unicode_escape").encode("latin-1")


def set_size(fd, size):
    rows, cols = (int(n) for n in size.split("x"))
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class Terminal:
    def __init__(self, argv, size=None):
        self.master, slave = os.openpty()
        if size:
            set_size(slave, size)
        self.slave_path = os.ttyname(slave)
        self.saved = termios.tcgetattr(slave)  # before fwctl changes it
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True, close_fds=True)
        os.close(slave)
        # Our own handle on the terminal, to check its modes after fwctl exits.
        self.check_fd = os.open(self.slave_path, os.O_RDWR | os.O_NOCTTY)
        self.out = b""
        self.seen = 0  # expect searches after this offset

    def pump(self, timeout):
        r, _, _ = select.select([self.master], [], [], timeout)
        if not r:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: nobody holds the slave any more
            return False
        self.out += data
        return bool(data)

    def expect(self, text):
        needle = unescape(text)
        deadline = time.monotonic() + TIMEOUT
        while True:
            at = self.out.find(needle, self.seen)
            if at >= 0:
                self.seen = at + len(needle)
                return
            left = deadline - time.monotonic()
            if left <= 0:
                fail(f"did not see {text!r} within {TIMEOUT} s", self.out)
            self.pump(min(left, 0.1))

    def wait_exit(self, status):
        deadline = time.monotonic() + TIMEOUT
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.proc.kill()
                fail(f"fwctl did not exit within {TIMEOUT} s", self.out)
            self.pump(0.05)
        while self.pump(0.05):
            pass
        if self.proc.returncode != int(status):
            fail(f"fwctl exited {self.proc.returncode}, expected {status}", self.out)
        modes = termios.tcgetattr(self.check_fd)
        if modes[3] & (termios.ECHO | termios.ICANON) != self.saved[3] & (termios.ECHO |
                                                                            termios.ICANON):
            fail("fwctl left the terminal in raw mode", self.out)


def run_fwctl(args):
    size = None
    if args and args[0].startswith("--size="):
        size, args = args[0][len("--size="):], args[1:]
    sep = "---" if "---" in args else "--"
    split = args.index(sep) if sep in args else len(args)
    argv, steps = args[:split], args[split + 1:]
    if not argv or not steps:
        fail("usage: console_client.py fwctl FWCTL console ID -- STEP...")
    t = Terminal(argv, size)
    for step in steps:
        verb, _, value = step.partition("=")
        if verb == "send":
            os.write(t.master, unescape(value))
        elif verb == "expect":
            t.expect(value)
        elif verb == "sh":
            rc = subprocess.call(["/bin/sh", "-c", value])
            if rc != 0:
                fail(f"step {step!r} exited {rc}", t.out)
        elif verb == "sleep":
            end = time.monotonic() + float(value)
            while time.monotonic() < end:
                t.pump(max(0.0, min(0.1, end - time.monotonic())))
        elif verb == "exit":
            t.wait_exit(value)
        elif verb == "size":
            set_size(t.master, value)
            t.proc.send_signal(signal.SIGWINCH)
        elif verb == "kill":
            t.proc.send_signal(getattr(signal, "SIG" + value))
        else:
            fail(f"unknown step {step!r}")
    if t.proc.poll() is None:
        t.proc.kill()
        t.proc.wait()
        fail("fwctl still runs after the last step", t.out)


def run_pts(path, command, expected):
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    try:
        os.write(fd, command.encode() + b"\r")
        out = b""
        deadline = time.monotonic() + TIMEOUT
        while expected.encode() not in out:
            left = deadline - time.monotonic()
            if left <= 0:
                fail(f"did not read {expected!r} from {path} within {TIMEOUT} s", out)
            r, _, _ = select.select([fd], [], [], left)
            if r:
                out += os.read(fd, 65536)
    finally:
        os.close(fd)


def run_hold(path, instance, seconds):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(TIMEOUT)
    sock.connect(path)
    request = {"seq": 1, "command": "CONSOLE", "args": [instance]}
    sock.sendall(json.dumps(request).encode() + b"\n")
    line = b""
    while not line.endswith(b"\n"):
        byte = sock.recv(1)  # one by one: console bytes after the reply stay unread
        if not byte:
            fail("the daemon closed the connection before answering CONSOLE")
        line += byte
    reply = json.loads(line)
    if reply.get("answer") != "CONSOLE":
        fail(f"CONSOLE answered {reply}")
    print("attached", flush=True)
    time.sleep(float(seconds))
    sock.close()


def main(argv):
    if len(argv) >= 2 and argv[1] == "fwctl":
        run_fwctl(argv[2:])
    elif len(argv) == 5 and argv[1] == "pts":
        run_pts(argv[2], argv[3], argv[4])
    elif len(argv) == 5 and argv[1] == "hold":
        run_hold(argv[2], argv[3], argv[4])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
