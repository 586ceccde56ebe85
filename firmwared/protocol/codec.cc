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

}  // namespace

std::variant<Request, DecodeFailure> decode_request(std::string_view line) {
  if (line.size() + 1 > kMaxMessageBytes) {
    return fail(0, E2BIG,
                "request of " + std::to_string(line.size()) + " bytes exceeds the 1 MiB limit");
  }
  if (!is_valid_utf8(line)) return fail(0, EILSEQ, "request is not valid UTF-8");
  Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return fail(0, EBADMSG, "request is not valid JSON");
  if (!j.is_object()) return fail(0, EBADMSG, "request is not a JSON object");

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
      return fail(r.seq, EINVAL, "request has an unknown field '" + k + "'");
    }
  }
  auto cmd_it = j.find("command");
  if (cmd_it == j.end()) return fail(r.seq, EINVAL, "request has no 'command' field");
  if (!cmd_it->is_string()) return fail(r.seq, EINVAL, "request field 'command' is not a string");
  r.command = to_upper(cmd_it->get<std::string>());
  const CommandInfo* info = find_command(r.command);
  if (info == nullptr) {
    std::string shown = cmd_it->get<std::string>();
    if (shown.size() > 64) shown = shown.substr(0, 64) + "...";
    return fail(r.seq, ENOSYS, "unknown command '" + shown + "' (COMMANDS lists them)");
  }
  if (auto a = j.find("args"); a != j.end()) {
    if (!a->is_array()) return fail(r.seq, EINVAL, "request field 'args' is not an array");
    for (const auto& v : *a) {
      if (!v.is_string()) {
        return fail(r.seq, EINVAL, "request field 'args' holds a non-string element");
      }
      r.args.push_back(v.get<std::string>());
    }
  }
  if (auto c = j.find("cwd"); c != j.end()) {
    if (!c->is_string() || c->get<std::string>().empty() || c->get<std::string>()[0] != '/') {
      return fail(r.seq, EINVAL, "request field 'cwd' is not an absolute path");
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
  Json j = Json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error(EBADMSG, "the daemon sent a line that is not a JSON object");
  }
  Message m;
  if (auto a = j.find("answer"); a != j.end() && a->is_string()) {
    m.kind = Message::Kind::kReply;
    m.name = a->get<std::string>();
    auto s = j.find("seq");
    if (s == j.end() || !s->is_number_unsigned()) {
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
