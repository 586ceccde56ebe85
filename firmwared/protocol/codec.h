#pragma once
// JSON-lines codec of the firmwared protocol (docs/protocol.md, schemas/*.json).
// One JSON object per line, UTF-8, at most kMaxMessageBytes including the newline.
// Decoding never throws: malformed input becomes an Error carrying the errno the ERROR
// reply will use.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "firmwared/base/result.h"

namespace fw::protocol {

using Json = nlohmann::json;

inline constexpr size_t kMaxMessageBytes = 1024 * 1024;

struct Request {
  uint32_t seq = 0;
  std::string command;             // upper case, a known command
  std::vector<std::string> args;   // checked against the command's arity
  std::optional<std::string> cwd;  // client's working directory (absolute), if sent
};

// A request that could not be decoded: the errno/message for the ERROR reply and the seq
// to answer with (0 when it could not be read).
struct DecodeFailure {
  uint32_t seq = 0;
  Error error;
};

// Decodes one line (without its trailing '\n'). Errors: E2BIG (too long), EILSEQ (not
// UTF-8), EBADMSG (not a JSON object), EINVAL (missing/mistyped field, wrong arity),
// ENOSYS (unknown command).
std::variant<Request, DecodeFailure> decode_request(std::string_view line);

// Encodes a request as one line ending with '\n'.
std::string encode_request(const Request& request);

// Builds replies and notifications (fields are merged into the top-level object).
Json make_reply(uint32_t seq, const std::string& answer, Json fields = Json::object());
Json make_error_reply(uint32_t seq, const Error& error);
Json make_event(const std::string& event, uint64_t event_id, Json fields = Json::object());

// Serialises any message as one line ending with '\n'. Invalid UTF-8 in strings is
// replaced by U+FFFD rather than throwing (file names can be anything).
std::string encode(const Json& message);

// A message as the client sees it.
struct Message {
  enum class Kind { kReply, kEvent };
  Kind kind = Kind::kReply;
  uint32_t seq = 0;  // replies only
  std::string name;  // the answer ("PONG", "ERROR") or the event ("DEAD")
  Json body;         // the whole object
  bool is_error() const { return kind == Kind::kReply && name == "ERROR"; }
  // For an ERROR reply: its errno and message.
  Error error() const;
};

// Decodes a reply or notification line from the daemon. Errors: EBADMSG.
Result<Message> decode_message(std::string_view line);

// Returns field `key` of `object` as a T, or `fallback` when `object` is not an object, has
// no such field, or holds it with another type (or out of T's range). Never throws: unlike
// Json::value(), which throws type_error on a field of another type, so a reply of another
// daemon version cannot abort the client. T: Json, std::string, bool, int, uint64_t.
template <typename T>
T field_or(const Json& object, std::string_view key, T fallback) {
  if (!object.is_object()) return fallback;
  const auto it = object.find(key);
  if (it == object.end()) return fallback;
  if constexpr (std::is_same_v<T, Json>) {
    return *it;
  } else if constexpr (std::is_same_v<T, std::string>) {
    return it->is_string() ? it->template get<std::string>() : fallback;
  } else if constexpr (std::is_same_v<T, bool>) {
    return it->is_boolean() ? it->template get<bool>() : fallback;
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    return it->is_number_unsigned() ? it->template get<uint64_t>() : fallback;
  } else {
    static_assert(std::is_same_v<T, int>, "field_or: Json, std::string, bool, int or uint64_t");
    if (!it->is_number_integer()) return fallback;
    const int64_t v = it->template get<int64_t>();
    const bool fits = it->is_number_unsigned() ? it->template get<uint64_t>() <= uint64_t{INT32_MAX}
                                               : v >= INT32_MIN && v <= INT32_MAX;
    return fits ? static_cast<int>(v) : fallback;
  }
}
inline std::string field_or(const Json& object, std::string_view key, const char* fallback) {
  return field_or<std::string>(object, key, fallback);
}

}  // namespace fw::protocol
