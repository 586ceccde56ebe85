#include "fwctl/options.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace fwctl {

namespace {

const OptionSpec* find_long(const std::vector<OptionSpec>& specs, const std::string& name) {
  for (const auto& s : specs) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const OptionSpec* find_short(const std::vector<OptionSpec>& specs, char c) {
  for (const auto& s : specs) {
    if (s.short_name != 0 && s.short_name == c) return &s;
  }
  return nullptr;
}

// "-" and "-1", "-0.5": operands, not options.
bool is_option_word(const std::string& w) {
  if (w.size() < 2 || w[0] != '-') return false;
  if (w == "--") return false;
  return !(std::isdigit(static_cast<unsigned char>(w[1])) || w[1] == '.');
}

std::string unknown_option(const std::string& shown, const std::string& name,
                           const std::vector<const std::vector<OptionSpec>*>& sets,
                           bool timeout_is_reply) {
  std::string msg = "unknown option '" + shown + "'";
  std::string hint;
  if (timeout_is_reply && name == "timeout") {
    hint = "--reply-timeout";
  } else if (!name.empty()) {
    std::vector<std::string> names;
    for (const auto* set : sets) {
      for (const auto& s : *set) names.push_back(s.name);
    }
    if (const std::string best = suggest(name, names); !best.empty()) hint = "--" + best;
  }
  if (!hint.empty()) msg += " (did you mean '" + hint + "'?)";
  return msg;
}

void set_error(ParsedLine* out, std::string message) {
  if (out->error.empty()) out->error = std::move(message);
}

// Handles the option word at words[*i] (an is_option_word). `verb_opts` may be null (before
// the verb). Records the option in out->globals or `verb_args`.
void take_option(const std::vector<std::string>& words, size_t* i,
                 const std::vector<OptionSpec>* verb_opts, Args* verb_args, ParsedLine* out) {
  const std::string& w = words[*i];
  const auto& globals = global_options();
  static const std::vector<OptionSpec> kNone;
  const auto& verb = verb_opts != nullptr ? *verb_opts : kNone;
  auto record = [&](const OptionSpec& spec, bool is_global, std::optional<std::string> value) {
    if (is_global) {
      out->globals.add(spec.name, std::move(value));
    } else {
      verb_args->add(spec.name, std::move(value));
    }
  };
  if (w.rfind("--", 0) == 0) {
    const size_t eq = w.find('=');
    std::string name = w.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const std::string shown = "--" + name;
    bool is_global = false;
    const OptionSpec* spec = find_long(verb, name);
    if (spec == nullptr) {
      // Before the verb, --timeout is the reply timeout's old name.
      const bool alias = verb_opts == nullptr && name == "timeout";
      spec = find_long(globals, alias ? "reply-timeout" : name);
      is_global = spec != nullptr;
    }
    if (spec == nullptr) {
      set_error(out, unknown_option(shown, name, {&verb, &globals}, verb_opts != nullptr));
      return;
    }
    if (spec->value.empty()) {
      if (eq != std::string::npos) {
        set_error(out, "option '" + shown + "' takes no value (given '" + w.substr(eq + 1) + "')");
        return;
      }
      record(*spec, is_global, std::nullopt);
      return;
    }
    if (eq != std::string::npos) {
      record(*spec, is_global, w.substr(eq + 1));
    } else if (*i + 1 < words.size()) {
      record(*spec, is_global, words[++*i]);
    } else {
      set_error(out, "option '" + shown + "' needs a value (" + spec->value + ")");
    }
    return;
  }
  // Short options, possibly bundled: -tf, -eNAME=VALUE, -e NAME=VALUE.
  for (size_t j = 1; j < w.size(); ++j) {
    const char c = w[j];
    bool is_global = false;
    const OptionSpec* spec = find_short(verb, c);
    if (spec == nullptr) {
      spec = find_short(globals, c);
      is_global = spec != nullptr;
    }
    if (spec == nullptr) {
      // "-signal" for "--signal": suggest from the whole word.
      std::string msg = "unknown option '-" + std::string(1, c) + "'";
      std::string hint;
      if (w.size() > 2) {
        const std::string name = w.substr(1);
        if (find_long(verb, name) != nullptr || find_long(globals, name) != nullptr) {
          hint = "--" + name;
        }
      }
      if (!hint.empty()) msg += " (did you mean '" + hint + "'?)";
      set_error(out, msg);
      return;
    }
    if (spec->value.empty()) {
      record(*spec, is_global, std::nullopt);
      continue;
    }
    if (j + 1 < w.size()) {
      record(*spec, is_global, w.substr(j + 1));
    } else if (*i + 1 < words.size()) {
      record(*spec, is_global, words[++*i]);
    } else {
      set_error(out, "option '-" + std::string(1, c) + "' needs a value (" + spec->value + ")");
    }
    return;
  }
}

}  // namespace

const std::vector<OptionSpec>& global_options() {
  static const std::vector<OptionSpec> kGlobals = {
      {"json", 0, "", "print the daemon's replies as JSON"},
      {"socket", 0, "PATH",
       "the daemon's socket (default $FIRMWARED_SOCKET_PATH, /run/firmwared.sock)"},
      {"reply-timeout", 0, "SECONDS",
       "how long to wait for a reply (default $FWCTL_TIMEOUT, 2; 0: no limit)"},
      {"help", 'h', "", "print this help"},
      {"version", 0, "", "print fwctl's version"},
  };
  return kGlobals;
}

size_t parse_leading(const std::vector<std::string>& words, ParsedLine* out) {
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w == "--") return i + 1;
    if (!is_option_word(w)) return i;
    take_option(words, &i, nullptr, nullptr, out);
  }
  return words.size();
}

void parse_verb_words(const VerbSyntax& syntax, const std::vector<std::string>& words,
                      ParsedLine* out) {
  Args& args = out->args;
  const OperandSpec& ops = syntax.operands;
  bool in_command = false, after_separator = false;
  int operands = 0;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (in_command) {
      args.add_command(w);
    } else if (after_separator) {
      args.add_operand(w);
      ++operands;
    } else if (ops.free_last && ops.max > 0 && operands == ops.max - 1) {
      args.add_operand(w);
      ++operands;
    } else if (w == "--") {
      args.set_separator();
      if (ops.command) {
        in_command = true;
      } else {
        after_separator = true;
      }
    } else if (is_option_word(w)) {
      take_option(words, &i, &syntax.options, &args, out);
    } else if (ops.command && ops.max >= 0 && operands >= ops.max) {
      in_command = true;  // `exec ID ls -l`: the command starts at the first word after ID
      args.add_command(w);
    } else {
      args.add_operand(w);
      ++operands;
    }
  }
  for (const auto& spec : syntax.options) {
    if (spec.required && !args.has(spec.name)) {
      set_error(out, "missing --" + spec.name + " " + spec.value);
    }
  }
  if (operands < ops.min) {
    set_error(out,
              ops.text.empty() ? "missing operand" : "missing operand (expected " + ops.text + ")");
  } else if (ops.max >= 0 && operands > ops.max) {
    const std::string& extra = args.operands()[static_cast<size_t>(ops.max)];
    set_error(out, "unexpected operand '" + extra + "'");
  }
  if (ops.command && args.command().empty() && operands >= ops.min) {
    set_error(out, "missing the command (-- CMD [ARGS...])");
  }
}

std::string usage_line(const VerbSyntax& syntax) {
  // Operands first, as in the daemon's synopsis (options may go anywhere).
  std::string line = "fwctl " + syntax.name;
  if (!syntax.operands.text.empty()) line += " " + syntax.operands.text;
  for (const auto& o : syntax.options) {
    std::string word = o.short_name != 0 ? std::string("-") + o.short_name : "--" + o.name;
    if (!o.value.empty()) word += " " + o.value;
    line += o.required ? " " + word : " [" + word + "]";
    if (o.repeatable) line += "...";
  }
  if (syntax.operands.command) line += " -- CMD [ARGS...]";
  return line;
}

std::string options_help(const std::vector<OptionSpec>& options) {
  std::string out;
  for (const auto& o : options) {
    std::string left = "  ";
    left += o.short_name != 0 ? std::string("-") + o.short_name + ", " : "    ";
    left += "--" + o.name;
    if (!o.value.empty()) left += " " + o.value;
    if (left.size() < 30) {
      left.resize(30, ' ');
    } else {
      left += "  ";
    }
    out += left + o.help + "\n";
  }
  return out;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

std::string suggest(const std::string& word, const std::vector<std::string>& candidates) {
  if (word.empty()) return "";
  std::string prefixed;
  int prefixes = 0;
  for (const auto& c : candidates) {
    if (c != word && c.rfind(word, 0) == 0) {
      prefixed = c;
      ++prefixes;
    }
  }
  if (prefixes == 1) return prefixed;
  if (prefixes > 1) return "";  // ambiguous: no guess
  std::string best;
  size_t best_d = 3;
  for (const auto& c : candidates) {
    const size_t d = edit_distance(word, c);
    if (d < best_d && d * 2 <= word.size()) {
      best = c;
      best_d = d;
    }
  }
  return best;
}

bool parse_seconds(const std::string& s, double* out) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end == s.c_str() || *end != '\0' || !(v >= 0) || v > 1e6) return false;
  *out = v;
  return true;
}

}  // namespace fwctl
