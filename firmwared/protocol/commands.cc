#include "firmwared/protocol/commands.h"

#include <algorithm>

namespace fw::protocol {

namespace {

std::vector<CommandInfo> build_table() {
  std::vector<CommandInfo> t = {
      {"ADD_PROPERTY", "PROPERTY_ADDED", "ADD_PROPERTY FOLDER NAME[[]]",
       "Adds a custom writable property to every entity of FOLDER.",
       {"NAME[] declares an array property. Custom properties and their values persist."},
       2, 2, false},
      {"COMMANDS", "COMMANDS", "COMMANDS", "Lists the commands the daemon understands.", {}, 0,
       0, false},
      {"CONSOLE", "CONSOLE", "CONSOLE ID",
       "Attaches to the console of an instance: the connection becomes a raw byte relay.",
       {"Waits for the instance to start when it is not started. After the reply, bytes sent go",
        "to the console and the console's output comes back; the daemon closes the connection",
        "when the instance stops."},
       1, 1, true},
      {"CONFIG_KEYS", "CONFIG_KEYS", "CONFIG_KEYS",
       "Lists the configuration keys, in alphabetical order.", {}, 0, 0, false},
      {"DIFF", "DIFF", "DIFF ID [PATH...]",
       "Lists what differs between an instance's files and its firmware's (A, M, D, T).",
       {"PATHs restrict the diff to those paths and what is below them. Computed from the",
        "overlay's upper dir, for started and stopped instances. A reply carries at most",
        "about 900 KiB of entries (truncated is then true); stat always counts them all."},
       1, -1, true},
      {"DIFF_FILE", "DIFF_FILE", "DIFF_FILE ID PATH",
       "Shows how one file of an instance differs from the firmware's, as a unified diff.",
       {"Binary files, files over 8 MiB and non-regular files get a one-line summary."}, 2, 2,
       true},
      {"DROP", "DROPPED", "DROP FOLDER ID", "Removes an entity of FOLDER.",
       {"Instances must be ready; firmwares must not be used by any instance."}, 2, 2, false},
      {"EXPORT", "EXPORTED", "EXPORT ID --changes|--full PATH [--force]",
       "Writes an instance's changes (OCI layer) or its whole merged tree to a tar file.",
       {"--changes: the upper layer, deletions as .wh. whiteouts; --full: the merged tree.",
        "The daemon creates PATH (relative to the client's directory) with the client's uid",
        "and gid, and never replaces an existing file without --force."},
       3, 4, true},
      {"EXEC", "EXECUTED", "EXEC ID [--tty] [--winsize ROWSxCOLS] [--env NAME=VALUE]... [--workdir DIR] -- "
       "CMD [ARGS...]",
       "Runs a command inside a started instance, with the client's stdin, stdout and stderr.",
       {"It joins every namespace and the root of the instance's PID 1, with the same "
        "confinement.",
        "stdin, stdout and stderr must be anonymous pipes or /dev/null, /dev/zero, /dev/full",
        "(EINVAL otherwise): fwctl relays terminals and files through pipes.",
        "The reply carries its exit status (126: cannot execute, 127: not found)."},
       3, -1, true},
      {"FOLDERS", "FOLDERS", "FOLDERS", "Lists the folders (kinds of entities).", {}, 0, 0,
       false},
      {"GET_CONFIG", "GET_CONFIG", "GET_CONFIG KEY",
       "Prints the value of a configuration key (case-insensitive).", {}, 1, 1, false},
      {"GET_PROPERTY", "GET_PROPERTY", "GET_PROPERTY FOLDER ID PROPERTY",
       "Prints the value of a property of an entity.",
       {"PROPERTY[i] reads element i of an array property; PROPERTY alone joins them."}, 3, 3,
       false},
      {"HELP", "HELP", "HELP COMMAND", "Prints the help of a command.", {}, 1, 1, false},
      {"KILL", "KILLED", "KILL ID", "Kills a started instance (SIGKILL to its PID 1).",
       {"The reply carries the exit status; the overlay diff stays."}, 1, 1, true},
      {"LIST", "LIST", "LIST FOLDER", "Lists the entities of FOLDER as name[sha1].", {}, 1, 1,
       false},
      {"LOGS", "LOGS", "LOGS ID [OFFSET]",
       "Reads up to 64 KiB of the console log of an instance.",
       {"Without OFFSET, the last 64 KiB. The reply's offset is where the next LOGS continues;",
        "rotated is true when OFFSET was past the end (the log was rotated): reading restarted",
        "at 0."},
       1, 2, false},
      {"COMMIT", "PREPARED", "COMMIT ID",
       "Creates a firmware from the merged tree of an instance.",
       {"The tree is copied (like cp -a, hard links as separate files) to the directory",
        "REPOSITORY/NAME.TIME.rootfs, then prepared; DROP of that firmware removes it."},
       1, 1, true},
      {"PING", "PONG", "PING", "Checks that the daemon answers.", {}, 0, 0, false},
      {"PREPARE", "PREPARED", "PREPARE FOLDER PATH|ID",
       "Creates an entity: a firmware from a directory or image, an instance from a firmware.",
       {"Relative paths are resolved against the client's working directory.",
        "PREPARE instances SNAPSHOT stacks a new instance on a snapshot; PREPARE snapshots",
        "INSTANCE freezes the diff of a ready instance as a snapshot."}, 2, 2, true},
      {"PROPERTIES", "PROPERTIES", "PROPERTIES FOLDER",
       "Lists the property names of FOLDER; arrays end with [].", {}, 1, 1, false},
      {"QUIT", "BYEBYE", "QUIT", "Asks the daemon to exit cleanly.",
       {"Running instances keep running and are re-adopted at the next start."}, 0, 0, false},
      {"REMOUNT", "REMOUNTED", "REMOUNT ID",
       "Remounts the overlay of a ready instance so a rebuilt firmware directory shows.", {}, 1,
       1, false},
      {"RESTORE", "RESTORED", "RESTORE ID SNAPSHOT",
       "Resets the diff of a ready instance to a snapshot of its firmware.",
       {"The instance's changes since its snapshot (or firmware) are discarded; it then",
        "stacks on SNAPSHOT (docs/diff.md, Snapshots)."},
       2, 2, false},
      {"SET_PROPERTY", "SET_PROPERTY", "SET_PROPERTY FOLDER ID PROPERTY VALUE",
       "Sets a writable property of an entity.",
       {"PROPERTY[i] VALUE replaces or appends element i; VALUE nil truncates the array at i.",
        "PROPERTY \"a b 'c d'\" sets a whole array with shell-like quoting, never expanded."},
       4, 4, false},
      {"SHOW", "SHOW", "SHOW FOLDER ID", "Prints every property of an entity as 'name: value'.",
       {}, 2, 2, false},
      {"START", "STARTED", "START ID", "Starts an instance: its firmware's init runs as PID 1.",
       {}, 1, 1, true},
      {"SUBSCRIBE", "SUBSCRIBED", "SUBSCRIBE",
       "Asks for notifications (PREPARED, STARTED, DEAD, ...) on this connection.", {}, 0, 0,
       false},
      {"VERSION", "VERSION", "VERSION", "Prints the daemon's version.", {}, 0, 0, false},
  };
  std::sort(t.begin(), t.end(),
            [](const CommandInfo& a, const CommandInfo& b) { return a.name < b.name; });
  return t;
}

}  // namespace

const std::vector<CommandInfo>& commands() {
  static const std::vector<CommandInfo> table = build_table();
  return table;
}

const CommandInfo* find_command(std::string_view name) {
  for (const auto& c : commands()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

}  // namespace fw::protocol
