#pragma once
// Friendly entity names (`adjective_noun`, chosen from resources/ word lists) and the rule for
// names set by users.

#include <cstddef>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "firmwared/base/result.h"

namespace fw::core {

// Two word lists whose product is the space of generated names. Immutable once built.
class WordLists {
 public:
  // Reads `<resources_dir>/adjectives.txt` and `<resources_dir>/nouns.txt`: one word per
  // line, empty lines ignored, every other line exactly 2..12 lowercase letters [a-z], no
  // word twice in a file. Errors: the open/read errno (ENOENT for a missing file) naming
  // the file; EINVAL naming the file and line number of a bad or repeated word, or a file
  // with no word at all.
  static Result<WordLists> load(const std::string& resources_dir);
  // Same rules for lists given in memory; EINVAL names the list and the word's position.
  static Result<WordLists> from_words(std::vector<std::string> adjectives,
                                      std::vector<std::string> nouns);

  // Returns adjectives × nouns, the number of distinct names.
  size_t combinations() const { return adjectives_.size() * nouns_.size(); }
  // Returns adjectives[index / nouns] + "_" + nouns[index % nouns]; index < combinations().
  std::string name_at(size_t index) const;

  const std::vector<std::string>& adjectives() const { return adjectives_; }
  const std::vector<std::string>& nouns() const { return nouns_; }

 private:
  WordLists(std::vector<std::string> adjectives, std::vector<std::string> nouns)
      : adjectives_(std::move(adjectives)), nouns_(std::move(nouns)) {}

  std::vector<std::string> adjectives_;
  std::vector<std::string> nouns_;
};

// Returns a name for which `taken` is false: a few uniform random picks first (enough when
// the space is sparse), then a scan of every name from a random start, so a free name is
// found whenever one exists. Deterministic for a given `rng` state. ENOSPC "all N names are
// taken" when none is free.
Result<std::string> pick_name(const WordLists& words,
                              const std::function<bool(const std::string&)>& taken,
                              std::mt19937_64& rng);

// Checks a name a user gives (PREPARE's name=, SET_PROPERTY name): 1..64 bytes of [A-Za-z0-9._-],
// not starting with '-' or '.' (so neither "." nor ".."), not only digits (an index), and not 6 or
// more hex digits only (it would shadow a sha1 or a sha1 prefix, which identifiers also accept).
// EINVAL naming the name and the rule it breaks.
Status validate_name(std::string_view name);

}  // namespace fw::core
