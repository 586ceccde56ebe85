#pragma once
// Test doubles shared by the core unit tests: a sink recording the notifications a folder
// emits.

#include <string>
#include <variant>
#include <vector>

#include "firmwared/core/events.h"

namespace fw::core::fakes {

struct RecordedEvent {
  std::string name;
  EventFields fields;

  std::string str(const std::string& key) const {
    for (const auto& [k, v] : fields) {
      if (k == key && std::holds_alternative<std::string>(v)) return std::get<std::string>(v);
    }
    return "<missing " + key + ">";
  }
  int64_t num(const std::string& key) const {
    for (const auto& [k, v] : fields) {
      if (k == key && std::holds_alternative<int64_t>(v)) return std::get<int64_t>(v);
    }
    return -1;
  }
};

class RecordingSink final : public EventSink {
 public:
  std::vector<RecordedEvent> events;
  void emit(const std::string& event, EventFields fields) override {
    events.push_back({event, std::move(fields)});
  }
  std::vector<RecordedEvent> named(const std::string& name) const {
    std::vector<RecordedEvent> out;
    for (const auto& e : events) {
      if (e.name == name) out.push_back(e);
    }
    return out;
  }
};

}  // namespace fw::core::fakes
