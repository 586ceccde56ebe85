#include "firmwared/protocol/codec.h"

#include <cerrno>
#include <limits>

#include "firmwared/base/strings.h"
#include "firmwared/protocol/commands.h"

namespace fw::protocol {

namespace {

DecodeFailure fail(uint32_t seq, int code, std::string message) {
  return DecodeFailure{seq, make_error(code, std::move(message))};
}

std::string arity_text(const CommandInfo& c) {
  if (c.max_args == 0) return "no argument";
  if (c.min_args == c.max_args) {
    return std::to_string(c.min_args) + (c.min_args == 1 ? " argument" : " arguments");
  }
  if (c.max_args < 0) return "at least " + std::to_string(c.min_args) + " arguments";
  return std::to_string(c.min_args) + " to " + std::to_string(c.max_args) + " arguments";
}

// No message nests deeper than this (a request needs 2 levels, a SHOW reply 3).
constexpr int kMaxNestingDepth = 64;

// True when `text` opens more than `limit` arrays/objects at once, counting brackets
// outside strings only. nlohmann's parser and destructor are iterative (3.11), but copying,
// comparing or dumping a value recurses once per level: a 1 MiB line of '[' parses into a
// tree that overflows the stack as soon as it is copied or printed. Checked before parsing,
// so such a line also never allocates a tree.
bool nests_deeper_than(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // skips the escaped character, which may be '"'
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

// Parses `text` (EBADMSG naming the byte of a syntax error). The throwing overload is used
// because only the exception carries the position.
Result<Json> parse_json(std::string_view text, std::string_view what) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    return make_error(EBADMSG, std::string(what) + " is not valid JSON: syntax error at byte " +
                                   std::to_string(e.byte));
  } catch (const Json::exception& e) {
    return make_error(EBADMSG, std::string(what) + " is not valid JSON: " + e.what());
  }
}

bool has_nul(const std::string& s) { return s.find('\0') != std::string::npos; }

}  // namespace

std::variant<Request, DecodeFailure> decode_request(std::string_view line) {
  if (line.size() + 1 > kMaxMessageBytes) {
    return fail(0, E2BIG,
                "request of " + std::to_string(line.size()) + " bytes exceeds the 1 MiB limit");
  }
  if (!is_valid_utf8(line)) return fail(0, EILSEQ, "request is not valid UTF-8");
  if (line.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return fail(0, EBADMSG, "request is an empty line");
  }
  // nlohmann's lexer takes a raw NUL for the end of input and would ignore what follows;
  // valid JSON never holds one (inside strings it must be escaped as \u0000).
  if (line.find('\0') != std::string_view::npos) {
    return fail(0, EBADMSG, "request contains a NUL byte");
  }
  if (nests_deeper_than(line, kMaxNestingDepth)) {
    return fail(0, EBADMSG,
                "request nests deeper than " + std::to_string(kMaxNestingDepth) + " levels");
  }
  auto parsed = parse_json(line, "request");
  if (!parsed.ok()) return DecodeFailure{0, std::move(parsed.error())};
  Json j = std::move(*parsed);
  if (!j.is_object()) {
    return fail(0, EBADMSG, std::string("request is a JSON ") + j.type_name() + ", not an object");
  }

  Request r;
  auto seq_it = j.find("seq");
  if (seq_it == j.end()) return fail(0, EINVAL, "request has no 'seq' field");
  if (!seq_it->is_number_unsigned() ||
      seq_it->get<uint64_t>() > std::numeric_limits<uint32_t>::max()) {
    return fail(0, EINVAL, "request field 'seq' is not an integer in 0..4294967295");
  }
  r.seq = static_cast<uint32_t>(seq_it->get<uint64_t>());

  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    if (k != "seq" && k != "command" && k != "args" && k != "cwd") {
      return fail(r.seq, EINVAL, "request has an unknown field " + quote(k));
    }
  }
  auto cmd_it = j.find("command");
  if (cmd_it == j.end()) return fail(r.seq, EINVAL, "request has no 'command' field");
  if (!cmd_it->is_string()) return fail(r.seq, EINVAL, "request field 'command' is not a string");
  r.command = to_upper(cmd_it->get<std::string>());
  const CommandInfo* info = find_command(r.command);
  if (info == nullptr) {
    return fail(r.seq, ENOSYS,
                "unknown command " + quote(cmd_it->get<std::string>()) + " (COMMANDS lists them)");
  }
  if (auto a = j.find("args"); a != j.end()) {
    if (!a->is_array()) return fail(r.seq, EINVAL, "request field 'args' is not an array");
    for (const auto& v : *a) {
      const std::string index = std::to_string(r.args.size());
      if (!v.is_string()) {
        return fail(
            r.seq, EINVAL,
            "request field 'args' element " + index + " is a " + v.type_name() + ", not a string");
      }
      // Arguments end up in paths and C strings, where a NUL would silently cut them.
      if (has_nul(v.get_ref<const std::string&>())) {
        return fail(r.seq, EINVAL, "request field 'args' element " + index + " contains a NUL");
      }
      r.args.push_back(v.get<std::string>());
    }
  }
  if (auto c = j.find("cwd"); c != j.end()) {
    if (!c->is_string() || c->get<std::string>().empty() || c->get<std::string>()[0] != '/') {
      return fail(r.seq, EINVAL, "request field 'cwd' is not an absolute path");
    }
    if (has_nul(c->get_ref<const std::string&>())) {
      return fail(r.seq, EINVAL, "request field 'cwd' contains a NUL");
    }
    r.cwd = c->get<std::string>();
  }
  const int n = static_cast<int>(r.args.size());
  if (n < info->min_args || (info->max_args >= 0 && n > info->max_args)) {
    return fail(r.seq, EINVAL,
                r.command + " takes " + arity_text(*info) + ", got " + std::to_string(n) +
                    " (usage: " + info->synopsis + ")");
  }
  return r;
}

std::string encode_request(const Request& request) {
  Json j = {{"seq", request.seq}, {"command", request.command}, {"args", request.args}};
  if (request.cwd) j["cwd"] = *request.cwd;
  return encode(j);
}

Json make_reply(uint32_t seq, const std::string& answer, Json fields) {
  Json j = fields.is_object() ? std::move(fields) : Json::object();
  j["seq"] = seq;
  j["answer"] = answer;
  return j;
}

Json make_error_reply(uint32_t seq, const Error& error) {
  return Json{{"seq", seq},
              {"answer", "ERROR"},
              {"errno", error.code},
              {"error", error.name()},
              {"message", error.message}};
}

Json make_event(const std::string& event, uint64_t event_id, Json fields) {
  Json j = fields.is_object() ? std::move(fields) : Json::object();
  j["event"] = event;
  j["event_id"] = event_id;
  return j;
}

std::string encode(const Json& message) {
  std::string s = message.dump(-1, ' ', false, Json::error_handler_t::replace);
  s += '\n';
  return s;
}

Error Message::error() const {
  int code = EIO;
  std::string msg = "malformed ERROR reply";
  if (auto e = body.find("errno"); e != body.end() && e->is_number_integer()) {
    code = e->get<int>();
  }
  if (auto m = body.find("message"); m != body.end() && m->is_string()) {
    msg = m->get<std::string>();
  }
  return make_error(code, msg);
}

Result<Message> decode_message(std::string_view line) {
  if (line.find('\0') != std::string_view::npos) {
    return make_error(EBADMSG, "the daemon sent a line containing a NUL byte");
  }
  if (nests_deeper_than(line, kMaxNestingDepth)) {
    return make_error(EBADMSG, "the daemon sent a line nesting deeper than " +
                                   std::to_string(kMaxNestingDepth) + " levels");
  }
  Json j = Json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error(EBADMSG, "the daemon sent a line that is not a JSON object");
  }
  Message m;
  if (auto a = j.find("answer"); a != j.end() && a->is_string()) {
    m.kind = Message::Kind::kReply;
    m.name = a->get<std::string>();
    auto s = j.find("seq");
    if (s == j.end() || !s->is_number_unsigned() ||
        s->get<uint64_t>() > std::numeric_limits<uint32_t>::max()) {
      return make_error(EBADMSG, "the daemon sent a reply without a valid 'seq'");
    }
    m.seq = s->get<uint32_t>();
  } else if (auto e = j.find("event"); e != j.end() && e->is_string()) {
    m.kind = Message::Kind::kEvent;
    m.name = e->get<std::string>();
  } else {
    return make_error(EBADMSG, "the daemon sent a message that is neither reply nor event");
  }
  m.body = std::move(j);
  return m;
}

}  // namespace fw::protocol
