#include "backends/rabbitmq/rabbitmq_delivery.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "backends/rabbitmq/rabbitmq_encode.h"
#include "util/digest.h"

namespace relay::rabbitmq {
namespace {

std::string decimal_text(const amqp_decimal_t& d) {
  std::string digits = std::to_string(d.value);
  if (d.decimals == 0) return digits;
  if (digits.size() <= d.decimals) digits.insert(0, d.decimals - digits.size() + 1, '0');
  digits.insert(digits.size() - d.decimals, 1, '.');
  return digits;
}

nlohmann::json field_json(const amqp_field_value_t& v) {
  switch (v.kind) {
    case AMQP_FIELD_KIND_BOOLEAN: return v.value.boolean != 0;
    case AMQP_FIELD_KIND_I8: return v.value.i8;
    case AMQP_FIELD_KIND_U8: return v.value.u8;
    case AMQP_FIELD_KIND_I16: return v.value.i16;
    case AMQP_FIELD_KIND_U16: return v.value.u16;
    case AMQP_FIELD_KIND_I32: return v.value.i32;
    case AMQP_FIELD_KIND_U32: return v.value.u32;
    case AMQP_FIELD_KIND_I64: return v.value.i64;
    case AMQP_FIELD_KIND_U64:
    case AMQP_FIELD_KIND_TIMESTAMP: return v.value.u64;
    case AMQP_FIELD_KIND_F32: return static_cast<double>(v.value.f32);
    case AMQP_FIELD_KIND_F64: return v.value.f64;
    case AMQP_FIELD_KIND_DECIMAL: return nlohmann::json::parse(decimal_text(v.value.decimal));
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES: return std::string(view(v.value.bytes));
    case AMQP_FIELD_KIND_TABLE: {
      auto o = nlohmann::json::object();
      for (int i = 0; i < v.value.table.num_entries; ++i)
        o[std::string(view(v.value.table.entries[i].key))] = field_json(v.value.table.entries[i].value);
      return o;
    }
    case AMQP_FIELD_KIND_ARRAY: {
      auto a = nlohmann::json::array();
      for (int i = 0; i < v.value.array.num_entries; ++i) a.push_back(field_json(v.value.array.entries[i]));
      return a;
    }
    default: return nullptr;  // void
  }
}

}  // namespace

std::string field_text(const amqp_field_value_t& v) {
  switch (v.kind) {
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES: return std::string(view(v.value.bytes));
    case AMQP_FIELD_KIND_DECIMAL: return decimal_text(v.value.decimal);
    case AMQP_FIELD_KIND_VOID: return {};
    case AMQP_FIELD_KIND_F32: return fmt::format("{}", v.value.f32);
    case AMQP_FIELD_KIND_F64: return fmt::format("{}", v.value.f64);
    default: return field_json(v).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

void decode_delivery(std::string_view queue, std::string_view routing_key, const amqp_basic_properties_t& props,
                     std::string_view body, Message& out) {
  out.op = Op::event;
  out.subject.assign(routing_key);
  out.source.assign("rabbitmq:").append(queue);
  out.key.clear();
  out.data.assign(body);
  out.headers.clear();
  const auto flags = props._flags;
  auto text = [&](amqp_flags_t flag, const char* name, const amqp_bytes_t& b) {
    if (flags & flag) out.headers.emplace_back(name, std::string(view(b)));
  };
  text(AMQP_BASIC_CONTENT_TYPE_FLAG, "content-type", props.content_type);
  text(AMQP_BASIC_CONTENT_ENCODING_FLAG, "content-encoding", props.content_encoding);
  text(AMQP_BASIC_CORRELATION_ID_FLAG, "correlation-id", props.correlation_id);
  text(AMQP_BASIC_REPLY_TO_FLAG, "reply-to", props.reply_to);
  text(AMQP_BASIC_EXPIRATION_FLAG, "expiration", props.expiration);
  text(AMQP_BASIC_MESSAGE_ID_FLAG, "message-id", props.message_id);
  if (flags & AMQP_BASIC_TIMESTAMP_FLAG) out.headers.emplace_back("timestamp", std::to_string(props.timestamp));
  text(AMQP_BASIC_TYPE_FLAG, "type", props.type);
  text(AMQP_BASIC_USER_ID_FLAG, "user-id", props.user_id);
  text(AMQP_BASIC_APP_ID_FLAG, "app-id", props.app_id);
  const size_t properties = out.headers.size();
  if (flags & AMQP_BASIC_HEADERS_FLAG) {
    for (int i = 0; i < props.headers.num_entries; ++i) {
      const auto& e = props.headers.entries[i];
      std::string_view name = view(e.key);
      bool taken = false;
      for (size_t p = 0; p < properties && !taken; ++p) taken = out.headers[p].first == name;
      if (!taken) out.headers.emplace_back(std::string(name), field_text(e.value));
    }
  }

  std::string_view id = flags & AMQP_BASIC_MESSAGE_ID_FLAG ? view(props.message_id) : std::string_view{};
  if (!id.empty()) out.dedup_key.assign(id);
  else out.dedup_key = "sha256:" + util::sha256_hex(body);
  out.committed_at = 0;
  if (flags & AMQP_BASIC_TIMESTAMP_FLAG) {
    // AMQP says seconds; some clients send milliseconds (Date.now()): a value past the year 33658
    // in seconds is read as milliseconds.
    double t = static_cast<double>(props.timestamp);
    out.committed_at = t >= 1e12 ? t / 1000.0 : t;
  }
}

}  // namespace relay::rabbitmq
