#!/usr/bin/python3
"""Writes the hand-made seeds of fuzz_overlay_reader into fuzz/corpus/fuzz_overlay_reader/.

Usage: overlay_seeds.py OUT_DIR

Each seed is a flags byte then operations, as decoded by fuzz/overlay_ops.cc: an opcode
byte (operation | layer << 4, layer 1 = upper) and its operand bytes. Entries are indexed
per layer in creation order (0 = the root); names, xattr keys and values by their tables.
"""

import os
import sys

MKDIR, FILE, SYMLINK, WHITEOUT, XATTR, HARDLINK, SPECIAL, CHOWN, SPARSE = range(9)
LOWER, UPPER = 0, 1
A, B, C, ETC, BIN, X, WH_A, WH_OPQ, SPACE, NL, BAD_UTF8, DASH, UMLAUT, LONG = range(14)
OPAQUE, REDIRECT, METACOPY, WHITEOUT_X, ORIGIN, ESCAPED, PLAIN = range(7)
(V_Y, V_X, V_EMPTY, V_SLASH_A, V_A, V_SLASH_A_B, V_B_C, V_ROOT, V_SLASHES, V_DOTDOT_A, V_DOTDOT,
 V_SLASH_DOTDOT, V_A_DOTDOT_DOTDOT) = range(13)
USER_XATTRS, EXPORT, PATH_FILTER = 1, 2, 4


def op(code, layer, *operands):
    return bytes([code | layer << 4, *operands])


def mkdir(layer, parent_dir, name, mode=0):
    return op(MKDIR, layer, parent_dir, name, mode)


def file(layer, parent_dir, name, content=b"", mode=0):
    return op(FILE, layer, parent_dir, name, mode, len(content)) + content


def xattr(layer, entry, key, value):
    return op(XATTR, layer, entry, key, value)


SEEDS = {
    # M of a file in a dir, A of a file, D through a whiteout.
    "modify-add-delete": bytes([EXPORT]) + mkdir(LOWER, 0, ETC) + file(LOWER, 1, A, b"hello\n")
    + file(LOWER, 0, C, b"c\n") + mkdir(UPPER, 0, ETC) + file(UPPER, 1, A, b"bye\n")
    + file(UPPER, 0, B, b"new\n") + op(WHITEOUT, UPPER, 0, C),
    # An opaque directory hides the lower one's entries.
    "opaque-dir": bytes([EXPORT | PATH_FILTER]) + mkdir(LOWER, 0, A) + file(LOWER, 1, B, b"b")
    + file(LOWER, 1, C, b"c") + mkdir(UPPER, 0, A) + xattr(UPPER, 1, OPAQUE, V_Y)
    + file(UPPER, 1, X, b"x"),
    # A renamed directory: b redirects to /a, a is whited out.
    "redirect-dir": bytes([EXPORT]) + mkdir(LOWER, 0, A) + file(LOWER, 1, B, b"b\n")
    + mkdir(UPPER, 0, B) + xattr(UPPER, 1, REDIRECT, V_SLASH_A) + op(WHITEOUT, UPPER, 0, A),
    # Metadata-only copy-up (data still below), and one redirected to another file.
    "metacopy": bytes([EXPORT | PATH_FILTER]) + file(LOWER, 0, A, b"data!")
    + file(LOWER, 0, B, b"other") + op(SPARSE, UPPER, 0, A, 1, 0)
    + xattr(UPPER, 1, METACOPY, V_EMPTY) + op(CHOWN, UPPER, 1, 5)
    + op(SPARSE, UPPER, 0, C, 0, 0) + xattr(UPPER, 2, METACOPY, V_EMPTY)
    + xattr(UPPER, 2, REDIRECT, V_SLASH_A),
    # Whiteouts as zero-size files in a directory whose opaque xattr is "x".
    "xwhiteouts": bytes([0]) + mkdir(LOWER, 0, A) + file(LOWER, 1, B, b"b")
    + mkdir(UPPER, 0, A) + xattr(UPPER, 1, OPAQUE, V_X) + file(UPPER, 1, B)
    + xattr(UPPER, 2, WHITEOUT_X, V_EMPTY),
    # Symlinks, devices, fifos, hard links, owners and ordinary xattrs, both layers.
    "types-and-links": bytes([EXPORT | PATH_FILTER]) + op(SYMLINK, LOWER, 0, A, 4) + b"/etc"
    + op(SYMLINK, UPPER, 0, A, 3) + b"etc" + op(SPECIAL, LOWER, 0, 0, B)
    + op(SPECIAL, UPPER, 2, 0, B) + file(UPPER, 0, C, b"linked") + op(HARDLINK, UPPER, 0, 0, X)
    + op(SPECIAL, UPPER, 3, 0, DASH) + mkdir(LOWER, 0, ETC, 2) + mkdir(UPPER, 0, ETC, 1)
    + xattr(UPPER, 6, PLAIN, V_A) + xattr(UPPER, 6, ESCAPED, V_Y) + op(CHOWN, LOWER, 3, 1),
    # Odd names, and a directory replaced by a file (T) over a deleted subtree.
    "names-and-type-change": bytes([PATH_FILTER]) + mkdir(LOWER, 0, NL) + file(LOWER, 1, LONG, b"l")
    + mkdir(LOWER, 1, BAD_UTF8) + file(LOWER, 3, UMLAUT, b"u") + file(UPPER, 0, NL, b"now a file")
    + file(UPPER, 0, WH_A, b"") + mkdir(UPPER, 0, WH_OPQ) + file(UPPER, 0, SPACE, b"s"),
    # The same opaque and redirect markers as user.overlay.* (userxattr mounts).
    "user-xattrs": bytes([USER_XATTRS | EXPORT]) + mkdir(LOWER, 0, A) + file(LOWER, 1, B, b"b")
    + mkdir(UPPER, 0, A) + xattr(UPPER, 1, OPAQUE, V_Y) + mkdir(UPPER, 0, C)
    + xattr(UPPER, 2, REDIRECT, V_A),
}


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    os.makedirs(argv[1], exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(argv[1], name), "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
