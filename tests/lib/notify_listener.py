#!/usr/bin/env python3
"""Stands in for a service manager's notification socket (sd_notify(3)) or the journal's
native socket (systemd-journald.service(8)): binds a datagram socket at argv[1] and appends
each datagram it receives to argv[2] as one line, fields separated by '|'. Native journal
entries whose values hold a newline use the binary encoding; this reader decodes it.
Runs until killed."""
import os
import socket
import struct
import sys


def decode(data: bytes) -> str:
    fields = []
    i = 0
    while i < len(data):
        nl = data.find(b"\n", i)
        if nl < 0:
            nl = len(data)
        line = data[i:nl]
        if b"=" in line:
            fields.append(line.decode(errors="replace"))
            i = nl + 1
        else:  # KEY\n<le64 size><value>\n
            size = struct.unpack("<Q", data[nl + 1:nl + 9])[0]
            value = data[nl + 9:nl + 9 + size]
            fields.append(line.decode() + "=" + value.decode(errors="replace").replace("\n", "\\n"))
            i = nl + 9 + size + 1
    return "|".join(f for f in fields if f)


def main() -> None:
    path, out = sys.argv[1], sys.argv[2]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    os.chmod(path, 0o666)
    with open(out, "a", buffering=1) as f:
        while True:
            data, ancdata, _, _ = sock.recvmsg(1 << 20, socket.CMSG_SPACE(16))
            # A large journal entry comes as a sealed memfd (SCM_RIGHTS) and no payload.
            for level, kind, cdata in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fd = struct.unpack("i", cdata[:4])[0]
                    data = os.pread(fd, 1 << 20, 0)
                    os.close(fd)
            f.write(decode(data) + "\n")


if __name__ == "__main__":
    main()
