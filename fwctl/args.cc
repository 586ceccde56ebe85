#include "fwctl/args.h"

namespace fwctl {

bool Args::has(std::string_view name) const {
  for (const auto& [n, v] : given_) {
    if (n == name) return true;
  }
  return false;
}

std::optional<std::string> Args::value(std::string_view name) const {
  std::optional<std::string> last;
  for (const auto& [n, v] : given_) {
    if (n == name && v) last = v;
  }
  return last;
}

std::string Args::value_or(std::string_view name, std::string fallback) const {
  auto v = value(name);
  return v ? *v : std::move(fallback);
}

std::vector<std::string> Args::values(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [n, v] : given_) {
    if (n == name && v) out.push_back(*v);
  }
  return out;
}

void Args::add(std::string name, std::optional<std::string> value) {
  given_.emplace_back(std::move(name), std::move(value));
}

}  // namespace fwctl
