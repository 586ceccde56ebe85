#include "firmwared/core/shell_words.h"

#include "firmwared/base/strings.h"

namespace fw::core {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n'; }

// The bytes a backslash escapes inside double quotes (POSIX.1-2017 XCU 2.2.3).
bool escapable_in_double_quotes(char c) {
  return c == '"' || c == '\\' || c == '$' || c == '`' || c == '\n';
}

bool is_safe(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("_@%+=:,./-").find(c) != std::string_view::npos;
}

Error syntax_error(std::string_view problem, size_t offset) {
  return make_error(EINVAL, std::string(problem) + " at byte " + std::to_string(offset));
}

}  // namespace

Result<std::vector<std::string>> shell_split(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;  // true once a byte or a quote pair started the current word
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    const char c = text[i];
    if (is_blank(c)) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
    } else if (c == '\\') {
      if (i + 1 == n) return syntax_error("trailing backslash", i);
      // Backslash-newline is a line continuation: it vanishes and starts no word.
      if (text[i + 1] != '\n') {
        word += text[i + 1];
        in_word = true;
      }
      i += 2;
    } else if (c == '\'') {
      const size_t close = text.find('\'', i + 1);
      if (close == std::string_view::npos) return syntax_error("unterminated single quote", i);
      word.append(text.substr(i + 1, close - i - 1));
      in_word = true;
      i = close + 1;
    } else if (c == '"') {
      const size_t open = i++;
      while (i < n && text[i] != '"') {
        if (text[i] == '\\' && i + 1 < n && escapable_in_double_quotes(text[i + 1])) {
          if (text[i + 1] != '\n') word += text[i + 1];
          i += 2;
        } else {
          word += text[i++];
        }
      }
      if (i == n) return syntax_error("unterminated double quote", open);
      in_word = true;
      ++i;
    } else {
      word += c;
      in_word = true;
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

std::string shell_quote(std::string_view word) {
  bool safe = !word.empty();
  for (char c : word) safe = safe && is_safe(c);
  if (safe) return std::string(word);
  std::string r = "'";
  for (char c : word) {
    if (c == '\'') {
      r += "'\\''";
    } else {
      r += c;
    }
  }
  r += '\'';
  return r;
}

}  // namespace fw::core
