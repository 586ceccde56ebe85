#pragma once
// Shell completion of fwctl's command line (`fwctl __complete WORDS... CURRENT`), used by
// completion/fwctl.bash and completion/_fwctl. The verbs, their options and what each
// operand is come from fwctl's own verb table; folders, names, properties and
// configuration keys come from the running daemon.

#include <string>
#include <vector>

#include "fwctl/verbs.h"

namespace fwctl {

// What the daemon knows, asked only when a candidate list needs it. Every call returns
// an empty list when the daemon cannot be reached: completion never fails loudly.
class CompletionSource {
 public:
  struct Entity {
    std::string name;
    std::string sha1;
  };
  virtual ~CompletionSource() = default;
  virtual std::vector<std::string> folders() = 0;
  virtual std::vector<Entity> entities(const std::string& folder) = 0;
  virtual std::vector<std::string> properties(const std::string& folder) = 0;
  virtual std::vector<std::string> config_keys() = 0;
};

struct Completion {
  // The candidates starting with the current word, sorted, without duplicates.
  std::vector<std::string> words;
  // Also complete file names (PATH operands, exec's command, --socket's value).
  enum class Files { kNone, kAll, kDirs } files = Files::kNone;
};

// Completes `current`, the word being typed, which follows `before` (the words after
// "fwctl"). A sha1 is offered only once `current` starts one (names otherwise).
Completion complete(const std::vector<std::string>& before, const std::string& current,
                    CompletionSource& source);

// The --socket (or FIRMWARED_SOCKET_PATH, or the default) a completed line talks to:
// `fallback` unless `before` gives --socket PATH or --socket=PATH.
std::string completion_socket(const std::vector<std::string>& before, std::string fallback);

// `fwctl __complete WORDS... CURRENT`: prints "files", "dirs" or "words" on the first line,
// then one candidate per line. Always exits 0.
int run_complete(Context& ctx, const std::vector<std::string>& words);

}  // namespace fwctl
