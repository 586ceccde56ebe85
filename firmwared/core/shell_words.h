#pragma once
// Shell-like word splitting and quoting, with no expansion and no execution, ever: the
// syntax of array property values (docs/protocol.md, `SET_PROPERTY instances x cmdline "a 'b c'"`).

#include <string>
#include <string_view>
#include <vector>

#include "firmwared/base/result.h"

namespace fw::core {

// Splits `text` into words like a POSIX shell would before any expansion:
// - blanks (space, tab, newline) separate words; other bytes (UTF-8 included) are literal;
// - '...' keeps everything literally up to the next single quote;
// - "..." keeps everything literally except that a backslash escapes `"`, `\`, `$`, `` ` ``
//   and newline (backslash-newline is removed); before any other byte it stays as is;
// - outside quotes a backslash makes the next byte literal; backslash-newline is a line
//   continuation (removed);
// - adjacent parts join into one word ("a"'b'c is abc); '' and "" make an empty word;
// - $VAR, $(cmd), `cmd`, *, ?, ~, # and the like are kept as plain text.
// Returns the words (none for a blank text). EINVAL for an unterminated quote or a trailing
// lone backslash, naming the problem and its byte offset (0-based).
Result<std::vector<std::string>> shell_split(std::string_view text);

// Returns `word` unchanged when it is non-empty and made only of [A-Za-z0-9_@%+=:,./-],
// otherwise single-quoted with each embedded ' written as '\'' ('' for an empty word), so
// that shell_split(join(shell_quote(w) for w in words, " ")) == words.
std::string shell_quote(std::string_view word);

}  // namespace fw::core
