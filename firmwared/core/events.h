#pragma once
// Notifications leaving the core (PREPARED, PREPARE_PROGRESS, DROPPED, PROPERTY_SET, ...).
// The server turns them into protocol messages; the core never sees JSON.

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace fw::core {

// std::monostate: a value not known (JSON null).
using EventValue = std::variant<std::string, int64_t, std::monostate>;
using EventFields = std::vector<std::pair<std::string, EventValue>>;

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void emit(const std::string& event, EventFields fields) = 0;
};

}  // namespace fw::core
