#pragma once
// Result<T>: a value or an Error {errno, message}. Errors are values (crun style): they
// travel up and gain context ("starting instance 'x': mount overlay: ...") on the way.

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace fw {

struct Error {
  int code = 0;         // an errno value (EINVAL, ENOENT, ...)
  std::string message;  // a human sentence naming the object and the step

  // Returns the errno symbol ("EBUSY") or "E<number>" when unknown.
  std::string name() const;
  // Returns a copy whose message is "<context>: <message>".
  Error wrap(const std::string& context) const;
};

// Builds an Error; the message should name the object and the reason.
Error make_error(int code, std::string message);
// Builds an Error from the current errno: "<what>: <strerror(errno)>".
Error errno_error(const std::string& what);
Error errno_error(int code, const std::string& what);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }
  Error& error() { return std::get<1>(v_); }
  T value_or(T fallback) const { return ok() ? value() : std::move(fallback); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }
  Error& error() { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace fw

#define FW_CONCAT_INNER(a, b) a##b
#define FW_CONCAT(a, b) FW_CONCAT_INNER(a, b)

// FW_TRY(expr): returns the error of a failed Result from the enclosing function.
#define FW_TRY(expr)                            \
  do {                                          \
    auto&& fw_try_result_ = (expr);             \
    if (!fw_try_result_.ok()) {                 \
      return std::move(fw_try_result_.error()); \
    }                                           \
  } while (0)

// FW_TRY_CTX(expr, context): same, prefixing the error with a context sentence.
#define FW_TRY_CTX(expr, context)                  \
  do {                                             \
    auto&& fw_try_result_ = (expr);                \
    if (!fw_try_result_.ok()) {                    \
      return fw_try_result_.error().wrap(context); \
    }                                              \
  } while (0)

// FW_ASSIGN_OR_RETURN(lhs, expr): `lhs = *expr` or return its error.
#define FW_ASSIGN_OR_RETURN(lhs, expr)                      \
  auto FW_CONCAT(fw_res_, __LINE__) = (expr);               \
  if (!FW_CONCAT(fw_res_, __LINE__).ok()) {                 \
    return std::move(FW_CONCAT(fw_res_, __LINE__).error()); \
  }                                                         \
  lhs = std::move(*FW_CONCAT(fw_res_, __LINE__))
