#include "firmwared/server/typed_json.h"

#include <charconv>
#include <ctime>
#include <optional>

namespace fw::server {

using protocol::Json;

namespace {

// The whole of `text` as a decimal integer, or nothing.
std::optional<int64_t> whole_number(const std::string& text) {
  int64_t v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return v;
}

}  // namespace

std::string iso8601_utc(int64_t epoch) {
  const time_t t = static_cast<time_t>(epoch);
  struct tm tm {};
  if (::gmtime_r(&t, &tm) == nullptr) return "";
  char buf[64];
  if (std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) return "";
  return buf;
}

Json property_value_json(const core::PropertyValue& p) {
  switch (p.type) {
    case core::PropertyType::kInteger: {
      if (p.value.empty()) return nullptr;
      if (auto v = whole_number(p.value)) return *v;
      return p.value;
    }
    case core::PropertyType::kTime:
      return iso8601_utc(p.epoch);
    case core::PropertyType::kString:
      break;
  }
  return p.value;
}

void put_property_value(const core::PropertyValue& p, Json& out) {
  out["value"] = property_value_json(p);
  if (p.type == core::PropertyType::kTime) out["epoch"] = p.epoch;
}

Json property_json(const core::PropertyValue& p) {
  Json j = {{"name", p.name}};
  put_property_value(p, j);
  return j;
}

Json config_value_json(const std::string& key, const std::string& text) {
  const config::KeyInfo* info = config::find_key_info(key);
  if (info == nullptr) return text;
  switch (info->type) {
    case config::KeyInfo::Type::kBoolean:
      if (text == "y") return true;
      if (text == "n") return false;
      return text;
    case config::KeyInfo::Type::kInteger:
      if (auto v = whole_number(text)) return *v;
      return text;
    case config::KeyInfo::Type::kString:
      break;
  }
  return text;
}

}  // namespace fw::server
