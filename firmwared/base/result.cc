#include "firmwared/base/result.h"

#include <cstring>

namespace fw {

std::string Error::name() const {
  // strerrorname_np is glibc ≥ 2.32 (Debian 12 has 2.36).
  const char* n = strerrorname_np(code);
  return n != nullptr ? std::string(n) : "E" + std::to_string(code);
}

Error Error::wrap(const std::string& context) const {
  return Error{code, context + ": " + message};
}

Error make_error(int code, std::string message) { return Error{code, std::move(message)}; }

Error errno_error(int code, const std::string& what) {
  return Error{code, what + ": " + std::strerror(code)};
}

Error errno_error(const std::string& what) { return errno_error(errno, what); }

}  // namespace fw
