#!/usr/bin/python3
"""Validates protocol samples against schemas/*.json (JSON Schema draft 2020-12).

Usage: validate_schemas.py SCHEMA_DIR [SAMPLES_FILE]

Reads one JSON message per line (from SAMPLES_FILE, or stdin), picks the schema by the
message's shape (answer ERROR: error, other answer: reply, event: event, command: request),
and validates it. Then checks that every answer of reply.json and every event of
event.json had a sample, and that hand-written invalid messages are rejected.
Exits 1 naming each failing sample.

Uses Debian's python3-jsonschema (/usr/bin/python3).
"""

import json
import sys

import jsonschema

SCHEMAS = ("request", "reply", "error", "event")

SHA1 = "5f3a9c0e8b7d6a1f2e4c3b5a6d7e8f9012345678"

# (schema, why it must be rejected, message)
INVALID = [
    ("request", "no seq", {"command": "PING"}),
    ("request", "negative seq", {"seq": -1, "command": "PING"}),
    ("request", "fractional seq", {"seq": 1.5, "command": "PING"}),
    ("request", "seq past u32", {"seq": 4294967296, "command": "PING"}),
    ("request", "string seq", {"seq": "1", "command": "PING"}),
    ("request", "no command", {"seq": 1}),
    ("request", "number command", {"seq": 1, "command": 5}),
    ("request", "unknown command", {"seq": 1, "command": "FROB"}),
    ("request", "args not an array", {"seq": 1, "command": "HELP", "args": "PING"}),
    ("request", "non-string arg", {"seq": 1, "command": "HELP", "args": [1]}),
    ("request", "NUL in arg", {"seq": 1, "command": "HELP", "args": ["PI\u0000NG"]}),
    ("request", "too many args", {"seq": 1, "command": "PING", "args": ["x"]}),
    ("request", "too few args", {"seq": 1, "command": "help", "args": []}),
    ("request", "missing args", {"seq": 1, "command": "START"}),
    ("request", "3 args to SET_PROPERTY",
     {"seq": 1, "command": "SET_PROPERTY", "args": ["instances", "x", "interface"]}),
    ("request", "5 args to SET_PROPERTY",
     {"seq": 1, "command": "set_property", "args": ["a", "b", "c", "d", "e"]}),
    ("request", "unknown field", {"seq": 1, "command": "PING", "verbose": True}),
    ("request", "relative cwd", {"seq": 1, "command": "PING", "cwd": "tmp"}),
    ("request", "empty cwd", {"seq": 1, "command": "PING", "cwd": ""}),
    ("request", "not an object", ["PING"]),
    ("reply", "ERROR is error.json's", {"seq": 1, "answer": "ERROR", "errno": 22,
                                        "error": "EINVAL", "message": "m"}),
    ("reply", "no seq", {"answer": "PONG"}),
    ("reply", "unknown answer", {"seq": 1, "answer": "PANG"}),
    ("reply", "extra field in PONG", {"seq": 1, "answer": "PONG", "extra": 1}),
    ("reply", "VERSION as a number", {"seq": 1, "answer": "VERSION", "version": 1}),
    ("reply", "HELP without overview", {"seq": 1, "answer": "HELP", "command": "PING",
                                        "synopsis": "PING", "help": []}),
    ("reply", "COMMANDS with lower case", {"seq": 1, "answer": "COMMANDS",
                                           "commands": ["ping"]}),
    ("reply", "GET_CONFIG without value", {"seq": 1, "answer": "GET_CONFIG", "key": "a"}),
    ("reply", "SUBSCRIBED negative", {"seq": 1, "answer": "SUBSCRIBED", "event_id": -1}),
    ("reply", "LIST with a short sha1", {"seq": 1, "answer": "LIST", "folder": "firmwares",
                                         "entities": [{"name": "a", "sha1": "abc"}]}),
    ("reply", "KILLED without exit_status", {"seq": 1, "answer": "KILLED", "sha1": SHA1,
                                             "name": "a"}),
    ("request", "3 args to LOGS", {"seq": 1, "command": "LOGS", "args": ["a", "0", "x"]}),
    ("request", "CONSOLE without an id", {"seq": 1, "command": "console", "args": []}),
    ("reply", "CONSOLE without outer_pts", {"seq": 1, "answer": "CONSOLE", "sha1": SHA1,
                                            "name": "a"}),
    ("reply", "CONSOLE on a non-pts path", {"seq": 1, "answer": "CONSOLE", "sha1": SHA1,
                                            "name": "a", "outer_pts": "/etc/passwd"}),
    ("reply", "LOGS without offset", {"seq": 1, "answer": "LOGS", "data": "",
                                      "rotated": False}),
    ("reply", "LOGS with a negative offset", {"seq": 1, "answer": "LOGS", "data": "",
                                              "offset": -1, "rotated": False}),
    ("reply", "LOGS rotated as a string", {"seq": 1, "answer": "LOGS", "data": "",
                                           "offset": 0, "rotated": "no"}),
    ("request", "DIFF without an id", {"seq": 1, "command": "DIFF", "args": []}),
    ("request", "EXPORT with 2 args", {"seq": 1, "command": "export", "args": ["a", "--full"]}),
    ("request", "DIFF_FILE with 3 args", {"seq": 1, "command": "DIFF_FILE",
                                          "args": ["a", "/x", "/y"]}),
    ("reply", "DIFF entry with status X", {"seq": 1, "answer": "DIFF", "sha1": SHA1, "name": "a",
                                           "entries": [{"status": "X", "path": "/x",
                                                        "type": "file", "mode": "0644",
                                                        "uid": 0, "gid": 0}],
                                           "stat": {}, "truncated": False}),
    ("reply", "DIFF entry with a relative path",
     {"seq": 1, "answer": "DIFF", "sha1": SHA1, "name": "a",
      "entries": [{"status": "A", "path": "x", "type": "file", "mode": "0644", "uid": 0,
                   "gid": 0}],
      "stat": {"added": 1, "modified": 0, "deleted": 0, "type_changed": 0, "total": 1,
               "bytes_added": 0, "bytes_deleted": 0, "bytes_modified": 0,
               "copied_up_unchanged": 0},
      "truncated": False}),
    ("reply", "DIFF without truncated", {"seq": 1, "answer": "DIFF", "sha1": SHA1, "name": "a",
                                         "entries": [], "stat": {}}),
    ("reply", "EXPORTED with mode both", {"seq": 1, "answer": "EXPORTED", "sha1": SHA1,
                                          "name": "a", "path": "/x.tar", "mode": "both",
                                          "entries": 0, "whiteouts": 0, "skipped": 0,
                                          "bytes": 0}),
    ("error", "no errno", {"seq": 1, "answer": "ERROR", "error": "EINVAL", "message": "m"}),
    ("error", "errno 0", {"seq": 1, "answer": "ERROR", "errno": 0, "error": "E0",
                          "message": "m"}),
    ("error", "error not a symbol", {"seq": 1, "answer": "ERROR", "errno": 22,
                                     "error": "Invalid argument", "message": "m"}),
    ("error", "empty message", {"seq": 1, "answer": "ERROR", "errno": 22, "error": "EINVAL",
                                "message": ""}),
    ("error", "extra field", {"seq": 1, "answer": "ERROR", "errno": 22, "error": "EINVAL",
                              "message": "m", "hint": "h"}),
    ("event", "no event_id", {"event": "BYEBYE"}),
    ("event", "event_id 0", {"event": "BYEBYE", "event_id": 0}),
    ("event", "event with a seq", {"event": "BYEBYE", "event_id": 1, "seq": 1}),
    ("event", "unknown event", {"event": "EXPLODED", "event_id": 1}),
    ("event", "extra field in BYEBYE", {"event": "BYEBYE", "event_id": 1, "why": "x"}),
    ("event", "DEAD without exit_status", {"event": "DEAD", "event_id": 1}),
    ("event", "percent past 100", {"event": "PREPARE_PROGRESS", "event_id": 1,
                                   "percent": 101}),
]


def load_validators(schema_dir):
    validators = {}
    for name in SCHEMAS:
        with open(f"{schema_dir}/{name}.json", encoding="utf-8") as f:
            schema = json.load(f)
        jsonschema.Draft202012Validator.check_schema(schema)
        validators[name] = jsonschema.Draft202012Validator(schema)
    return validators


def shape_of(message):
    if not isinstance(message, dict):
        return None
    # "answer" first: a HELP reply also has a "command" field.
    if "answer" in message:
        return "error" if message["answer"] == "ERROR" else "reply"
    if "event" in message:
        return "event"
    if "command" in message:
        return "request"
    return None


def first_error(validator, message):
    errors = sorted(validator.iter_errors(message), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    e = errors[0]
    where = "/".join(str(p) for p in e.absolute_path) or "(top)"
    return f"{where}: {e.message}"


def check_samples(validators, lines):
    failures = []
    seen = {name: set() for name in SCHEMAS}
    count = 0
    for number, raw in enumerate(lines, start=1):
        if not raw:
            continue
        count += 1
        line = raw.decode("utf-8", errors="replace")
        label = f"sample {number}: {line[:200]}"
        try:
            message = json.loads(raw.decode("utf-8"))
        except ValueError as e:  # UnicodeDecodeError is a ValueError
            failures.append(f"{label}\n    not JSON: {e}")
            continue
        shape = shape_of(message)
        if shape is None:
            failures.append(f"{label}\n    unknown shape (no command, answer or event)")
            continue
        problem = first_error(validators[shape], message)
        if problem:
            failures.append(f"{label}\n    rejected by {shape}.json: {problem}")
            continue
        seen[shape].add(message.get("answer") or message.get("event") or message["command"])
    return count, seen, failures


def check_coverage(validators, seen):
    failures = []
    answers = validators["reply"].schema["properties"]["answer"]["enum"]
    events = validators["event"].schema["properties"]["event"]["enum"]
    for a in answers:
        if a not in seen["reply"]:
            failures.append(f"no sample of reply {a}")
    for e in events:
        if e not in seen["event"]:
            failures.append(f"no sample of event {e}")
    if not seen["error"]:
        failures.append("no sample of an ERROR reply")
    if not seen["request"]:
        failures.append("no sample of a request")
    return failures


def check_invalid(validators):
    failures = []
    for schema, why, message in INVALID:
        if validators[schema].is_valid(message):
            failures.append(f"invalid sample ({why}) accepted by {schema}.json: "
                            f"{json.dumps(message)}")
    return failures


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    validators = load_validators(argv[1])
    # Split on b"\n" only: str.splitlines() would also split on U+2028 inside strings.
    if len(argv) == 3:
        with open(argv[2], "rb") as f:
            lines = f.read().split(b"\n")
    else:
        lines = sys.stdin.buffer.read().split(b"\n")
    count, seen, failures = check_samples(validators, lines)
    failures += check_coverage(validators, seen)
    failures += check_invalid(validators)
    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    print(f"{count} samples, {len(INVALID)} invalid samples, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
