#!/usr/bin/python3
"""Raw EXEC client handing the daemon arbitrary descriptors as the command's stdio, as a
hostile group member could (tests/integration/exec_stdio_attack_test.sh).

exec_fds.py SOCKET ID STDIN STDOUT STDERR CMD [ARGS...]

Each of STDIN, STDOUT, STDERR is one of:
  pipe          an anonymous pipe (stdin: empty, closed at once; stdout/stderr: printed)
  null          /dev/null
  dir:PATH      a directory opened O_RDONLY
  file:PATH     a regular file opened O_RDONLY
  fifo:PATH     a named FIFO opened O_RDONLY|O_NONBLOCK
  pty           the slave of a new pty
  socket        one end of a socketpair
  opath:PATH    an O_PATH descriptor

Prints the reply as JSON (sorted keys), then "STDOUT <text>" / "STDERR <text>" for pipes.
"""
import json
import os
import socket
import sys


def open_spec(spec, index, keep):
    kind, _, path = spec.partition(":")
    if kind == "pipe":
        r, w = os.pipe()
        if index == 0:
            os.close(w)
            return r, None
        return w, r
    if kind == "null":
        return os.open("/dev/null", os.O_RDWR), None
    if kind == "dir":
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY), None
    if kind == "file":
        return os.open(path, os.O_RDONLY), None
    if kind == "fifo":
        return os.open(path, os.O_RDONLY | os.O_NONBLOCK), None
    if kind == "pty":
        master, slave = os.openpty()
        keep.append(master)
        return slave, None
    if kind == "socket":
        a, b = socket.socketpair()
        keep.append(b)
        return a.detach(), None
    if kind == "opath":
        return os.open(path, os.O_PATH), None
    raise SystemExit("unknown descriptor spec " + spec)


def main():
    path, inst = sys.argv[1], sys.argv[2]
    specs, cmd = sys.argv[3:6], sys.argv[6:]
    keep, fds, readers = [], [], {}
    for i, spec in enumerate(specs):
        fd, reader = open_spec(spec, i, keep)
        fds.append(fd)
        if reader is not None:
            readers[i] = reader
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    req = {"seq": 1, "command": "EXEC", "args": [inst, "--"] + cmd}
    s.sendall(json.dumps(req).encode() + b"\n")
    buf = b""
    reply = None
    while reply is None:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            msg = json.loads(line)
            if msg.get("event") == "SEND_FDS":
                socket.send_fds(s, [b"x"], fds)
                for fd in fds:
                    os.close(fd)
            elif "answer" in msg or "error" in msg:
                reply = msg
    print(json.dumps(reply, sort_keys=True))
    for i, name in ((1, "STDOUT"), (2, "STDERR")):
        if i in readers:
            data = b""
            os.set_blocking(readers[i], False)
            try:
                while True:
                    d = os.read(readers[i], 65536)
                    if not d:
                        break
                    data += d
            except BlockingIOError:
                pass
            print(name, data.decode(errors="replace").strip())


if __name__ == "__main__":
    main()
