#pragma once
// Typed JSON for values the core and the configuration hold as text: integers as numbers
// ("" as null), y/n configuration keys as booleans, times as ISO 8601 UTC plus an epoch.

#include <cstdint>
#include <string>

#include "firmwared/config/config.h"
#include "firmwared/core/folder.h"
#include "firmwared/protocol/codec.h"

namespace fw::server {

// "2026-12-05T04:12:33Z" (UTC, whole seconds).
std::string iso8601_utc(int64_t epoch);

// The JSON value of a property: a number or null (kInteger; text that is not a whole
// number stays a string), the ISO 8601 UTC time (kTime), else the text.
protocol::Json property_value_json(const core::PropertyValue& p);

// Sets "value" (and "epoch" for a time) in `out`: a SHOW entry or a GET_PROPERTY reply.
void put_property_value(const core::PropertyValue& p, protocol::Json& out);

// A SHOW entry: {"name", "value"} plus "epoch" for a time.
protocol::Json property_json(const core::PropertyValue& p);

// The JSON value of configuration key `key` holding `text`: true/false for y/n keys,
// a number for counts, else the text (also for an unknown key).
protocol::Json config_value_json(const std::string& key, const std::string& text);

}  // namespace fw::server
