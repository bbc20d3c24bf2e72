// One section (source or sink) of a canonical pipeline config, read through its backend's spec.
// Every key a backend reads must be declared in its spec, or the read throws std::logic_error (a
// programming error, caught by any test that builds the backend); a key absent from the section has
// the spec's default, declared there once, so no read carries a default of its own.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "relay/config_spec.h"

namespace relay {

class ConfigSection {
 public:
  ConfigSection(const BackendSpec& spec, const nlohmann::json& section);
  ConfigSection(const BackendSpec& spec, nlohmann::json&& section) = delete;  // it keeps a reference

  const BackendSpec& spec() const { return *spec_; }
  // Given in the section, or defaulted by the spec.
  bool has(std::string_view key) const { return !value(key).is_null(); }
  std::string text(std::string_view key) const;   // "" when absent
  long long integer(std::string_view key) const;  // 0 when absent
  double number(std::string_view key) const;      // 0 when absent
  bool flag(std::string_view key) const;          // false when absent
  // The value as JSON (objects, arrays); null when absent.
  const nlohmann::json& value(std::string_view key) const;

 private:
  const KeySpec& declared(std::string_view key) const;

  const BackendSpec* spec_;
  const nlohmann::json* section_;
  mutable nlohmann::json defaults_ = nlohmann::json::object();  // parsed spec defaults, by key
};

}  // namespace relay
