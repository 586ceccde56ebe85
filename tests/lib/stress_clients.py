#!/usr/bin/python3
"""Protocol stress and abuse scenarios for the root tests (each prints one result line).

stress_clients.py SOCKET pings CLIENTS PER_CLIENT
    CLIENTS concurrent connections, each pipelining PER_CLIENT PINGs; checks every seq got
    exactly one PONG. Prints "answered N of M".
stress_clients.py SOCKET malformed
    Sends each malformed class on one connection; prints "<errno name> <seq>" per reply.
stress_clients.py SOCKET oversized
    Sends a 2 MiB line then a PING on the same connection; prints both answers.
stress_clients.py SOCKET noread
    Opens a client that floods PINGs and never reads, while another client PINGs.
stress_clients.py SOCKET halfline
    Sends half a request and disconnects, 50 times.
"""
import json
import socket
import sys
import threading
import time


def connect(path, timeout=10.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def next(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError("daemon closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)


def pings(path, clients, per_client):
    results = [0] * clients
    errors = []

    def worker(k):
        try:
            s = connect(path)
            payload = b"".join(
                json.dumps({"seq": i + 1, "command": "PING"}).encode() + b"\n"
                for i in range(per_client))
            s.sendall(payload)
            r = Reader(s)
            seen = set()
            for _ in range(per_client):
                m = r.next()
                if m.get("answer") == "PONG":
                    seen.add(m["seq"])
            results[k] = len(seen)
            s.close()
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("answered %d of %d" % (sum(results), clients * per_client))
    for e in errors:
        print("error", e)


MALFORMED = [
    b"",
    b"not json",
    b"[1,2,3]",
    b'"a string"',
    b'{"command":"PING"}',
    b'{"seq":-1,"command":"PING"}',
    b'{"seq":1.5,"command":"PING"}',
    b'{"seq":7}',
    b'{"seq":8,"command":5}',
    b'{"seq":9,"command":"NOPE"}',
    b'{"seq":10,"command":"PING","args":"x"}',
    b'{"seq":11,"command":"PING","args":[1]}',
    b'{"seq":12,"command":"PING","args":["extra"]}',
    b'{"seq":13,"command":"GET_CONFIG"}',
    b'{"seq":14,"command":"PING","bogus":true}',
    b'{"seq":15,"command":"PING","cwd":"relative"}',
    b'{"seq":16,"command":"PI\xc0\xafNG"}',
    b"[" * 100000,
    b'{"seq":17,"command":"PING"}',
]


def malformed(path):
    s = connect(path)
    r = Reader(s)
    for line in MALFORMED:
        s.sendall(line + b"\n")
        m = r.next()
        print(m.get("error", m.get("answer")), m.get("seq"))


def oversized(path):
    s = connect(path)
    r = Reader(s)
    s.sendall(b'{"seq":1,"command":"PING","args":["' + b"x" * (2 << 20) + b'"]}\n')
    s.sendall(b'{"seq":2,"command":"PING"}\n')
    m1 = r.next()
    m2 = r.next()
    print(m1.get("error"), m1.get("seq"), m2.get("answer"), m2.get("seq"))


def noread(path):
    flooder = connect(path)
    flooder.setblocking(False)
    line = json.dumps({"seq": 1, "command": "COMMANDS"}).encode() + b"\n"
    chunk = line * 1024
    sent = 0
    start = time.time()
    next_check = start
    closed = False
    while time.time() < start + 30:
        try:
            sent += flooder.send(chunk)
        except BlockingIOError:
            time.sleep(0.005)
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        if time.time() >= next_check:
            # Meanwhile the daemon keeps serving others.
            next_check = time.time() + 0.5
            other = connect(path, timeout=2)
            other.sendall(b'{"seq":3,"command":"PING"}\n')
            if Reader(other).next().get("answer") != "PONG":
                print("other client not served")
                return
            other.close()
    print("flooder dropped" if closed else "flooder still connected after %d bytes" % sent)


def halfline(path):
    for _ in range(50):
        s = connect(path)
        s.sendall(b'{"seq":1,"comm')
        s.close()
    s = connect(path)
    s.sendall(b'{"seq":2,"command":"PING"}\n')
    print(Reader(s).next().get("answer"))


def main():
    path, mode = sys.argv[1], sys.argv[2]
    if mode == "pings":
        pings(path, int(sys.argv[3]), int(sys.argv[4]))
    else:
        globals()[mode](path)


if __name__ == "__main__":
    main()
