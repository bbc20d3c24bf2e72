// Text names of the core enums (one home, used by logs, envelopes and templates).
#include "config/pipeline_config.h"
#include "relay/config_spec.h"
#include "relay/message.h"
#include "relay/result.h"

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
  }
  return "string";
}

}  // namespace relay
