// Text names of the core enums (one home, used by logs, envelopes and templates).
#include "config/pipeline_config.h"
#include "relay/config_spec.h"
#include "relay/message.h"
#include "relay/result.h"

#include <fmt/format.h>

#include <algorithm>

namespace relay {

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::retriable: return "retriable";
    case ErrorKind::permanent: return "permanent";
    case ErrorKind::fatal: return "fatal";
  }
  return "retriable";
}

const char* to_string(Op op) {
  switch (op) {
    case Op::insert: return "insert";
    case Op::update: return "update";
    case Op::delete_: return "delete";
    case Op::truncate: return "truncate";
    case Op::event: return "event";
    case Op::delta: return "delta";
    case Op::read: return "read";
    case Op::gap: return "gap";
  }
  return "event";
}

const char* to_string(Role role) {
  switch (role) {
    case Role::source: return "source";
    case Role::sink: return "sink";
    case Role::pipeline: return "pipeline";
  }
  return "pipeline";
}

const char* to_string(ValueType type) {
  switch (type) {
    case ValueType::string: return "string";
    case ValueType::integer: return "integer";
    case ValueType::number: return "number";
    case ValueType::boolean: return "boolean";
    case ValueType::object: return "object";
    case ValueType::array: return "array";
    case ValueType::string_list: return "string_list";
    case ValueType::enumeration: return "enum";
    case ValueType::subject: return "subject";
    case ValueType::slot_name: return "slot_name";
  }
  return "string";
}

bool is_relay_slot_name(std::string_view name) {
  constexpr std::string_view prefix = "pgtrickle_";
  if (name.size() <= prefix.size() || name.size() > 63 || name.substr(0, prefix.size()) != prefix) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

std::string relay_slot_name_rule(std::string_view name) {
  return fmt::format("\"{}\" is not a slot name the relay may create and drop: it must start with \"pgtrickle_\", "
                     "then hold only lowercase letters, digits and underscores, 63 characters at most (e.g. \"pgtrickle_orders\"); "
                     "slots named otherwise belong to other systems, which the relay never reads nor drops",
                     name);
}

}  // namespace relay
