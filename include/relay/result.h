// Result<T>: the error channel of every I/O path. A small subset of std::expected's API so it can be
// swapped for std::expected later. Exceptions are used only at boundaries (config loading, main).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace relay {

// How the core reacts to a failure: retry it, set the message aside (dead letter), or stop.
enum class ErrorKind {
  retriable,  // the environment may recover: connection lost, timeout, broker busy
  permanent,  // this input can never succeed: oversized message, 4xx, unreadable payload
  fatal,      // the pipeline cannot go on: bad configuration, missing privilege
};

const char* to_string(ErrorKind kind);

struct Error {
  ErrorKind kind = ErrorKind::retriable;
  std::string message;
};

inline Error retriable(std::string message) { return {ErrorKind::retriable, std::move(message)}; }
inline Error permanent(std::string message) { return {ErrorKind::permanent, std::move(message)}; }
inline Error fatal(std::string message) { return {ErrorKind::fatal, std::move(message)}; }

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}

  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace relay
