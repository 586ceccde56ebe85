#include "fwctl/complete.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <iostream>
#include <optional>
#include <set>

#include "firmwared/base/strings.h"
#include "firmwared/protocol/codec.h"
#include "fwctl/client.h"
#include "fwctl/options.h"

namespace fwctl {

namespace {

// The signals a stop is usually asked with (fwctl stop --signal, STOP's SIGNAL).
const std::vector<std::string> kSignals = {"SIGTERM", "SIGINT",  "SIGKILL",    "SIGHUP",
                                           "SIGUSR1", "SIGUSR2", "SIGRTMIN+3", "SIGPWR"};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out(1);
  for (char ch : s) {
    if (ch == sep) {
      out.emplace_back();
    } else {
      out.back() += ch;
    }
  }
  return out;
}

bool is_option_word(const std::string& w) {
  return w.size() >= 2 && w[0] == '-' && w != "--" &&
         !(std::isdigit(static_cast<unsigned char>(w[1])) || w[1] == '.');
}

const OptionSpec* find_option(const std::vector<const std::vector<OptionSpec>*>& sets,
                              const std::string& word, bool* value_attached) {
  *value_attached = false;
  if (word.starts_with("--")) {
    std::string name = word.substr(2);
    if (auto eq = name.find('='); eq != std::string::npos) {
      name.resize(eq);
      *value_attached = true;
    }
    for (const auto* set : sets) {
      for (const auto& s : *set) {
        if (s.name == name) return &s;
      }
    }
    return nullptr;
  }
  // -x, -xVALUE, bundled flags -tf: the last short option that takes a value decides.
  for (size_t i = 1; i < word.size(); ++i) {
    for (const auto* set : sets) {
      for (const auto& s : *set) {
        if (s.short_name != word[i]) continue;
        if (!s.value.empty()) {
          *value_attached = i + 1 < word.size();
          return &s;
        }
      }
    }
  }
  return nullptr;
}

// The operand placeholders of a verb: "FOLDER ID PROPERTY" -> {FOLDER, ID, PROPERTY};
// brackets and "..." dropped; `repeat_last` when the last one repeats.
std::vector<std::string> placeholders(const std::string& text, bool* repeat_last) {
  std::vector<std::string> out;
  *repeat_last = false;
  for (std::string w : split(text, ' ')) {
    if (w.empty()) continue;
    if (w == "--" || w == "[--" || w.starts_with("CMD")) break;
    std::erase_if(w, [](char c) { return c == '[' || c == ']'; });
    if (w.ends_with("...")) {
      w.resize(w.size() - 3);
      *repeat_last = true;
    }
    if (w.empty() || w == "|") continue;
    out.push_back(w);
  }
  return out;
}

class Collector {
 public:
  explicit Collector(const std::string& current) : current_(current) {}
  void add(const std::string& w) {
    if (w.starts_with(current_)) words_.insert(w);
  }
  void add(const std::vector<std::string>& ws) {
    for (const auto& w : ws) add(w);
  }
  void add_entities(CompletionSource& source, const std::string& folder) {
    for (const auto& e : source.entities(folder)) {
      add(e.name);
      if (!current_.empty() && !e.sha1.empty()) add(e.sha1);
    }
  }
  Completion done(Completion::Files files) {
    return {std::vector<std::string>(words_.begin(), words_.end()), files};
  }

 private:
  std::string current_;
  std::set<std::string> words_;
};

// Candidates for the value of option `spec`.
Completion complete_option_value(const OptionSpec& spec, const std::string& verb,
                                 const std::string& current) {
  Collector c(current);
  if (spec.name == "socket") return c.done(Completion::Files::kAll);
  if (spec.value == "DIR") return c.done(Completion::Files::kDirs);
  if (spec.value.find('|') != std::string::npos) c.add(split(spec.value, '|'));
  if (spec.name == "signal") c.add(kSignals);
  if (verb == "ps" && spec.name == "filter") c.add({"label=", "name=", "state="});
  return c.done(Completion::Files::kNone);
}

// "--name=VALUE" being typed: VALUE's candidates, each behind "--name=". nullopt when
// `current` is no such word.
std::optional<Completion> complete_attached_value(
    const std::vector<const std::vector<OptionSpec>*>& sets, const std::string& verb,
    const std::string& current) {
  const size_t eq = current.find('=');
  if (!current.starts_with("--") || eq == std::string::npos) return std::nullopt;
  bool attached = false;
  const OptionSpec* o = find_option(sets, current, &attached);
  if (o == nullptr || o->value.empty()) return Completion{};
  Completion c = complete_option_value(*o, verb, current.substr(eq + 1));
  for (auto& w : c.words) w.insert(0, current.substr(0, eq + 1));
  return c;
}

}  // namespace

std::string completion_socket(const std::vector<std::string>& before, std::string fallback) {
  for (size_t i = 0; i < before.size(); ++i) {
    if (before[i] == "--") break;
    if (before[i] == "--socket" && i + 1 < before.size()) fallback = before[i + 1];
    if (before[i].starts_with("--socket=")) fallback = before[i].substr(9);
  }
  return fallback;
}

Completion complete(const std::vector<std::string>& before, const std::string& current,
                    CompletionSource& source) {
  Collector c(current);
  const std::vector<OptionSpec>& globals = global_options();
  // "--timeout" before the verb: the old name of --reply-timeout.
  static const std::vector<OptionSpec> kLeadingExtra = {{"timeout", 0, "SECONDS", ""}};
  size_t i = 0;
  bool attached = false;
  while (i < before.size() && is_option_word(before[i])) {
    const OptionSpec* o = find_option({&globals, &kLeadingExtra}, before[i], &attached);
    ++i;
    if (o != nullptr && !o->value.empty() && !attached) {
      if (i == before.size()) return complete_option_value(*o, "", current);
      ++i;
    }
  }
  if (i == before.size()) {
    if (auto v = complete_attached_value({&globals, &kLeadingExtra}, "", current)) return *v;
    if (current.starts_with("-")) {
      for (const auto& o : globals) c.add("--" + o.name);
    } else {
      for (const auto& v : verbs()) c.add(v.name);
    }
    return c.done(Completion::Files::kNone);
  }
  const std::string verb_name = fw::to_lower(before[i]);
  const Verb* verb = find_verb(verb_name);
  if (verb == nullptr) return c.done(Completion::Files::kNone);
  bool repeat_last = false;
  const std::vector<std::string> slots = placeholders(verb->operands.text, &repeat_last);
  const int max = verb->operands.max;
  std::vector<std::string> operands;
  bool in_command = false;
  for (++i; i < before.size(); ++i) {
    const std::string& w = before[i];
    if (in_command) continue;
    if (w == "--") {
      if (verb->operands.command || verb->name == "run") in_command = true;
      continue;
    }
    if (is_option_word(w)) {
      const OptionSpec* o = find_option({&verb->options, &globals}, w, &attached);
      if (o != nullptr && !o->value.empty() && !attached) {
        if (i + 1 == before.size()) return complete_option_value(*o, verb->name, current);
        ++i;
      }
      continue;
    }
    operands.push_back(w);
    // exec ID ls -l: once the operands are given, the command starts.
    if (verb->operands.command && max >= 0 && static_cast<int>(operands.size()) >= max) {
      in_command = true;
    }
  }
  if (in_command) return c.done(Completion::Files::kAll);
  if (auto v = complete_attached_value({&verb->options, &globals}, verb->name, current)) {
    return *v;
  }
  if (current.starts_with("-")) {
    for (const auto& o : verb->options) c.add("--" + o.name);
    for (const auto& o : globals) c.add("--" + o.name);
    return c.done(Completion::Files::kNone);
  }
  const size_t k = operands.size();
  if ((max >= 0 && static_cast<int>(k) >= max) || slots.empty()) {
    return c.done(Completion::Files::kNone);
  }
  const std::string slot = k < slots.size() ? slots[k] : (repeat_last ? slots.back() : "");
  const std::string folder = !slots.empty() && slots[0] == "FOLDER" && !operands.empty()
                                 ? fw::to_lower(operands[0])
                                 : std::string();
  Completion::Files files = Completion::Files::kNone;
  if (slot == "FOLDER") {
    c.add(source.folders());
  } else if (slot == "ID") {
    c.add_entities(source, folder.empty() ? std::string("instances") : folder);
  } else if (slot == "PATH|ID") {  // PREPARE firmwares PATH, PREPARE instances FIRMWARE
    c.add_entities(source, "firmwares");
    if (folder != "instances") files = Completion::Files::kAll;
  } else if (slot == "FIRMWARE") {
    c.add_entities(source, "firmwares");
    files = Completion::Files::kAll;
  } else if (slot == "PROPERTY" || slot == "NAME") {
    if (!folder.empty()) c.add(source.properties(folder));
  } else if (slot == "KEY") {
    c.add(source.config_keys());
  } else if (slot == "VERB") {
    for (const auto& v : verbs()) c.add(v.name);
  } else if (slot == "SIGNAL") {
    c.add(kSignals);
  } else if (slot == "PATH" && verb->name.starts_with("diff")) {
    // A path inside the instance: nothing to offer from here.
  } else if (slot == "PATH" || slot == "DIR" || slot == "SRC" || slot == "DEST" ||
             slot.find(".tar") != std::string::npos) {
    files = slot == "DIR" ? Completion::Files::kDirs : Completion::Files::kAll;
    // cp's ID:PATH side.
    if (verb->name == "cp") {
      for (const auto& e : source.entities("instances")) c.add(e.name + ":");
    }
  }
  return c.done(files);
}

namespace {

// The daemon, asked once per list with a short deadline.
class DaemonSource final : public CompletionSource {
 public:
  explicit DaemonSource(std::string socket) : socket_(std::move(socket)) {}
  std::vector<std::string> folders() override {
    auto b = ask("FOLDERS", {});
    return b ? strings(*b, "folders") : std::vector<std::string>{"firmwares", "instances"};
  }
  std::vector<Entity> entities(const std::string& folder) override {
    std::vector<Entity> out;
    auto b = ask("LIST", {folder});
    if (!b) return out;
    auto it = b->find("entities");
    if (it == b->end() || !it->is_array()) return out;
    for (const auto& e : *it) {
      if (!e.is_object()) continue;
      out.push_back({fw::protocol::field_or(e, "name", std::string()),
                     fw::protocol::field_or(e, "sha1", std::string())});
    }
    return out;
  }
  std::vector<std::string> properties(const std::string& folder) override {
    auto b = ask("PROPERTIES", {folder});
    return b ? strings(*b, "properties") : std::vector<std::string>{};
  }
  std::vector<std::string> config_keys() override {
    auto b = ask("CONFIG_KEYS", {});
    return b ? strings(*b, "keys") : std::vector<std::string>{};
  }

 private:
  std::optional<fw::protocol::Json> ask(const std::string& command, std::vector<std::string> args) {
    if (unreachable_) return std::nullopt;
    if (!client_) {
      auto c = Client::connect(socket_);
      if (!c.ok()) {
        unreachable_ = true;
        return std::nullopt;
      }
      client_.emplace(std::move(*c));
    }
    fw::protocol::Request req;
    req.command = command;
    req.args = std::move(args);
    auto r = client_->call(req, std::chrono::steady_clock::now() + std::chrono::seconds(1));
    if (!r.ok()) {
      unreachable_ = true;
      return std::nullopt;
    }
    if (r->is_error()) return std::nullopt;
    return r->body;
  }
  static std::vector<std::string> strings(const fw::protocol::Json& body, const char* key) {
    std::vector<std::string> out;
    auto it = body.find(key);
    if (it == body.end() || !it->is_array()) return out;
    for (const auto& s : *it) {
      if (s.is_string()) out.push_back(s.get<std::string>());
    }
    return out;
  }

  std::string socket_;
  std::optional<Client> client_;
  bool unreachable_ = false;
};

}  // namespace

int run_complete(Context& ctx, const std::vector<std::string>& words) {
  std::vector<std::string> before = words;
  std::string current;
  if (!before.empty()) {
    current = before.back();
    before.pop_back();
  }
  DaemonSource source(completion_socket(before, ctx.socket_path));
  const Completion c = complete(before, current, source);
  std::cout << (c.files == Completion::Files::kAll    ? "files"
                : c.files == Completion::Files::kDirs ? "dirs"
                                                      : "words")
            << "\n";
  for (const auto& w : c.words) std::cout << w << "\n";
  return kExitOk;
}

}  // namespace fwctl
