#!/usr/bin/python3
"""Writes the seed corpus of fuzz_protocol_decode.

Usage: protocol_seeds.py SAMPLES_EXE VALIDATE_SCHEMAS_PY OUT_DIR

One file per line printed by SAMPLES_EXE (tests/unit/protocol_samples.cc: every request,
reply, ERROR reply and event, as the schema test checks them) and one per must-reject
message of validate_schemas.py's INVALID list, each without its newline. OUT_DIR is
emptied first.
"""

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    samples = subprocess.run([argv[1]], check=True, stdout=subprocess.PIPE).stdout
    spec = importlib.util.spec_from_file_location("validate_schemas", argv[2])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lines = [line for line in samples.split(b"\n") if line]
    lines += [json.dumps(message).encode() for _, _, message in module.INVALID]
    out = argv[3]
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for line in lines:
        name = hashlib.sha1(line).hexdigest()
        with open(os.path.join(out, name), "wb") as f:
            f.write(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
