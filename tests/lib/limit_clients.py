#!/usr/bin/python3
"""Connection-limit and message-size scenarios for the root tests.

limit_clients.py SOCKET flood COUNT WAIT
    Opens COUNT connections that each send "{" and nothing more, then watches them for up
    to WAIT seconds. Once nothing happened for one second it prints
    "settled open=N <ERRNO>=K..." (connections still open, and how many were closed after
    an ERROR line with that errno name), then at the end
    "final open=N <ERRNO>=K... closed_after=MIN..MAX" (seconds from the flood to the
    closing of the connections the daemon timed out, ETIMEDOUT).
    The first error message seen for each errno is printed as "message <ERRNO> <text>".
limit_clients.py SOCKET bigargs ARG0 ARG1...
    For every command but QUIT and CONSOLE, sends requests whose arguments are made of
    the given small arguments with one of them replaced by a 500 KiB string (each position
    in turn, for each arity from 1 to 4 the command accepts). Prints "largest reply N bytes (COMMAND)" and, for each
    reply that quotes more than 64 bytes of the big argument, "unbounded COMMAND ARGS".
"""
import collections
import json
import resource
import selectors
import socket
import sys
import time


def connect(path, timeout=10.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def summary(open_count, outcomes):
    counts = collections.Counter(outcomes.values())
    return "open=%d %s" % (open_count, " ".join("%s=%d" % kv for kv in sorted(counts.items())))


def flood(path, count, wait):
    raise_fd_limit()
    sel = selectors.DefaultSelector()
    socks = []
    start = time.monotonic()
    for _ in range(count):
        # Blocking connect: waits while the daemon's backlog is full instead of EAGAIN.
        s = connect(path, timeout=None)
        try:
            s.sendall(b"{")
        except (BrokenPipeError, ConnectionResetError):
            # The daemon refused this connection (its error line is already queued)
            # and closed it before the "{" was written: still read that line below.
            pass
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, bytearray())
        socks.append(s)
    outcomes, closed_at, messages = {}, {}, {}
    settled = False
    last_event = time.monotonic()
    while sel.get_map() and time.monotonic() - start < wait:
        events = sel.select(timeout=0.2)
        now = time.monotonic()
        for key, _ in events:
            s, buf = key.fileobj, key.data
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if chunk:
                buf += chunk
                continue
            line = bytes(buf).split(b"\n", 1)[0]
            try:
                name = json.loads(line).get("error", "NOERROR")
                messages.setdefault(name, json.loads(line).get("message", ""))
            except ValueError:
                name = "EOF"
            outcomes[s.fileno()] = name
            closed_at[s.fileno()] = now - start
            sel.unregister(s)
            last_event = now
        if not settled and now - last_event >= 1.0:
            settled = True
            print("settled " + summary(len(sel.get_map()), outcomes), flush=True)
    timed = [closed_at[fd] for fd, name in outcomes.items() if name == "ETIMEDOUT"]
    span = "%.1f..%.1f" % (min(timed), max(timed)) if timed else "none"
    if not settled:
        print("settled " + summary(len(sel.get_map()), outcomes), flush=True)
    for name, text in sorted(messages.items()):
        print("message %s %s" % (name, text))
    print("final %s closed_after=%s" % (summary(len(sel.get_map()), outcomes), span), flush=True)
    for s in socks:
        s.close()


def request(path, command, args):
    s = connect(path, timeout=30.0)
    try:
        s.sendall(json.dumps({"seq": 1, "command": command, "args": args}).encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return buf.split(b"\n", 1)[0]
    finally:
        s.close()


def bigargs(path, small):
    big = "a" * (500 * 1024)
    commands = json.loads(request(path, "COMMANDS", []))["commands"]
    largest, largest_cmd = 0, ""
    for command in commands:
        if command in ("QUIT", "CONSOLE"):
            continue
        for n in range(1, 5):
            # Skip arities the command refuses (a small probe answers "takes N arguments").
            probe = json.loads(request(path, command, ["x"] * n))
            if probe.get("error") == "EINVAL" and " takes " in probe.get("message", ""):
                continue
            for i in range(n):
                args = [small[k % len(small)] for k in range(n)]
                args[i] = big
                reply = request(path, command, args)
                if len(reply) > largest:
                    largest, largest_cmd = len(reply), command
                if "a" * 65 in reply.decode("utf-8", "replace"):
                    shown = ["<500KiB>" if a is big else a for a in args]
                    print("unbounded %s %s" % (command, " ".join(shown)))
    print("largest reply %d bytes (%s)" % (largest, largest_cmd))


def main():
    path, mode = sys.argv[1], sys.argv[2]
    if mode == "flood":
        flood(path, int(sys.argv[3]), float(sys.argv[4]))
    elif mode == "bigargs":
        bigargs(path, sys.argv[3:])
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
