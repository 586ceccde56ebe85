#!/usr/bin/python3
"""Raw protocol client for the root tests.

fwclient.py SOCKET LINE...   sends each LINE (a JSON request, sent verbatim) and prints
                             every reply as JSON with sorted keys, one per line.
"""
import json
import socket
import sys


def connect(path, timeout=5.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def read_lines(sock, count):
    buf = b""
    out = []
    while len(out) < count:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf and len(out) < count:
            line, buf = buf.split(b"\n", 1)
            out.append(json.loads(line))
    return out


def main():
    path = sys.argv[1]
    s = connect(path)
    for line in sys.argv[2:]:
        s.sendall(line.encode() + b"\n")
    for reply in read_lines(s, len(sys.argv) - 2):
        print(json.dumps(reply, sort_keys=True))


if __name__ == "__main__":
    main()
