#include "firmwared/core/names.h"
#include "firmwared/base/strings.h"

#include <fcntl.h>
#include <unistd.h>

#include <unordered_map>

#include "firmwared/base/fd.h"
#include "firmwared/core/identifiers.h"
#include "firmwared/core/shell_words.h"

namespace fw::core {
namespace {

constexpr size_t kMinWord = 2;
constexpr size_t kMaxWord = 12;
constexpr size_t kMaxName = 64;
// The shortest sha1 prefix an identifier may be (identifiers.cc).
constexpr size_t kMinSha1Prefix = 6;
constexpr size_t kSha1Digits = 40;
// Random picks before the exhaustive scan: with half of the names taken, 8 picks all miss
// with probability 1/256, and the scan still guarantees an answer.
constexpr int kRandomPicks = 8;

bool is_word(std::string_view w) {
  if (w.size() < kMinWord || w.size() > kMaxWord) return false;
  for (char c : w) {
    if (c < 'a' || c > 'z') return false;
  }
  return true;
}

// Returns "" when `words` is a valid list, else the reason. `where(i)` names entry i in
// full ("/r/nouns.txt:4"), `ref(i)` names it next to another one ("line 4").
template <typename Where, typename Ref>
std::string check_words(const std::vector<std::string>& words, const Where& where, const Ref& ref) {
  std::unordered_map<std::string_view, size_t> seen;
  for (size_t i = 0; i < words.size(); ++i) {
    if (!is_word(words[i])) {
      return where(i) + ": " + quote(words[i]) + " is not a word of " + std::to_string(kMinWord) +
             " to " + std::to_string(kMaxWord) + " lowercase letters a-z";
    }
    auto [it, inserted] = seen.emplace(words[i], i);
    if (!inserted) return where(i) + ": word '" + words[i] + "' repeats " + ref(it->second);
  }
  return "";
}

Result<std::string> read_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno_error("opening word list '" + path + "'");
  std::string data;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("reading word list '" + path + "'");
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  return data;
}

// Reads one list; entries keep their line numbers so errors can name them.
Result<std::vector<std::string>> load_list(const std::string& path) {
  FW_ASSIGN_OR_RETURN(std::string data, read_file(path));
  std::vector<std::string> words;
  std::vector<size_t> lines;
  size_t line = 0;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t end = data.find('\n', pos);
    if (end == std::string::npos) end = data.size();
    ++line;
    if (end > pos) {
      words.emplace_back(data, pos, end - pos);
      lines.push_back(line);
    }
    pos = end + 1;
  }
  if (words.empty()) return make_error(EINVAL, "word list '" + path + "' has no word");
  std::string bad = check_words(
      words, [&](size_t i) { return path + ":" + std::to_string(lines[i]); },
      [&](size_t i) { return "line " + std::to_string(lines[i]); });
  if (!bad.empty()) return make_error(EINVAL, "word list " + bad);
  return words;
}

}  // namespace

Result<WordLists> WordLists::load(const std::string& resources_dir) {
  FW_ASSIGN_OR_RETURN(auto adjectives, load_list(resources_dir + "/adjectives.txt"));
  FW_ASSIGN_OR_RETURN(auto nouns, load_list(resources_dir + "/nouns.txt"));
  return WordLists(std::move(adjectives), std::move(nouns));
}

Result<WordLists> WordLists::from_words(std::vector<std::string> adjectives,
                                        std::vector<std::string> nouns) {
  for (const auto* list : {&adjectives, &nouns}) {
    const std::string kind = list == &adjectives ? "adjective" : "noun";
    if (list->empty()) return make_error(EINVAL, "the " + kind + " list has no word");
    auto ref = [&](size_t i) { return kind + " #" + std::to_string(i + 1); };
    std::string bad = check_words(*list, ref, ref);
    if (!bad.empty()) return make_error(EINVAL, bad);
  }
  return WordLists(std::move(adjectives), std::move(nouns));
}

std::string WordLists::name_at(size_t index) const {
  return adjectives_[index / nouns_.size()] + "_" + nouns_[index % nouns_.size()];
}

Result<std::string> pick_name(const WordLists& words,
                              const std::function<bool(const std::string&)>& taken,
                              std::mt19937_64& rng) {
  const size_t total = words.combinations();
  std::uniform_int_distribution<size_t> uniform(0, total - 1);
  for (int i = 0; i < kRandomPicks; ++i) {
    std::string name = words.name_at(uniform(rng));
    if (!taken(name)) return name;
  }
  const size_t start = uniform(rng);
  for (size_t i = 0; i < total; ++i) {
    std::string name = words.name_at((start + i) % total);
    if (!taken(name)) return name;
  }
  return make_error(ENOSPC, "all " + std::to_string(total) + " names are taken");
}

Status validate_name(std::string_view name) {
  auto invalid = [&](const std::string& rule) {
    return make_error(EINVAL, "invalid name " + quote(name) + ": " + rule);
  };
  if (name.empty()) return invalid("a name cannot be empty");
  if (name.size() > kMaxName) {
    return invalid("a name has at most " + std::to_string(kMaxName) + " bytes, not " +
                   std::to_string(name.size()));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      return invalid("byte " + std::to_string(i) + " (" + quote(name.substr(i, 1)) +
                     ") is not allowed, a name may only contain letters, digits, '.', '_' "
                     "and '-'");
    }
  }
  if (name.front() == '-' || name.front() == '.') {
    return invalid("a name cannot start with '-' or '.'");
  }
  if (is_sha1(name)) return invalid("a name cannot be 40 hex digits, it would shadow a sha1");
  // Identifiers resolve names first: a name such as "deadbeef" would hide the entity whose
  // sha1 starts with it, and a number reads as an instance index (fwctl ps).
  const bool all_digits = name.find_first_not_of("0123456789") == std::string_view::npos;
  if (all_digits) return invalid("a name cannot be only digits, it would look like an index");
  const bool all_hex = name.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
  if (all_hex && name.size() >= kMinSha1Prefix && name.size() <= kSha1Digits) {
    return invalid("a name cannot be " + std::to_string(kMinSha1Prefix) + " to " +
                   std::to_string(kSha1Digits) + " hex digits, it would shadow a sha1 prefix");
  }
  return {};
}

}  // namespace fw::core
