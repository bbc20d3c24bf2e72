#include "backends/sqs/sqs_receive.h"

#include <nlohmann/json.hpp>

#include <cstdlib>

#include "util/json_escape.h"

namespace relay::sqs {
namespace {

const std::string* string_field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
}

void encode_entries(std::string_view queue_url, std::span<const std::string> handles, int visibility, std::string& out) {
  out += "{\"QueueUrl\":";
  util::append_json_string(out, queue_url);
  out += ",\"Entries\":[";
  for (size_t i = 0; i < handles.size(); ++i) {
    if (i) out += ',';
    out += "{\"Id\":\"";
    util::append_int(out, static_cast<std::int64_t>(i));
    out += "\",\"ReceiptHandle\":";
    util::append_json_string(out, handles[i]);
    if (visibility >= 0) {
      out += ",\"VisibilityTimeout\":";
      util::append_int(out, visibility);
    }
    out += '}';
  }
  out += "]}";
}

}  // namespace

void encode_receive(std::string_view queue_url, int max_messages, int wait_seconds, int visibility_timeout, std::string& out) {
  out += "{\"QueueUrl\":";
  util::append_json_string(out, queue_url);
  out += ",\"MaxNumberOfMessages\":";
  util::append_int(out, max_messages);
  out += ",\"WaitTimeSeconds\":";
  util::append_int(out, wait_seconds);
  if (visibility_timeout > 0) {
    out += ",\"VisibilityTimeout\":";
    util::append_int(out, visibility_timeout);
  }
  // Both spellings of the system attribute list: older endpoints know only AttributeNames.
  out += ",\"AttributeNames\":[\"All\"],\"MessageSystemAttributeNames\":[\"All\"],\"MessageAttributeNames\":[\"All\"]}";
}

Result<std::vector<Received>> parse_receive_answer(std::string_view body, std::string_view queue_name) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return retriable("SQS: unreadable ReceiveMessage answer");
  std::vector<Received> out;
  auto list = j.find("Messages");
  if (list == j.end() || list->is_null()) return out;
  if (!list->is_array()) return retriable("SQS: unreadable ReceiveMessage answer (Messages is not a list)");
  std::string source = "sqs:" + std::string(queue_name);
  out.reserve(list->size());
  for (const auto& e : *list) {
    if (!e.is_object()) continue;
    const std::string* id = string_field(e, "MessageId");
    const std::string* handle = string_field(e, "ReceiptHandle");
    if (!id || !handle || id->empty() || handle->empty()) return retriable("SQS: a received message has no MessageId or ReceiptHandle");
    Received r;
    r.receipt_handle = *handle;
    Message& m = r.message;
    m.op = Op::event;
    m.subject = std::string(queue_name);
    m.source = source;
    if (const std::string* b = string_field(e, "Body")) m.data = *b;
    const std::string* dedup = nullptr;
    if (auto a = e.find("Attributes"); a != e.end() && a->is_object()) {
      dedup = string_field(*a, "MessageDeduplicationId");
      if (const std::string* sent = string_field(*a, "SentTimestamp"))
        m.committed_at = static_cast<double>(std::strtoll(sent->c_str(), nullptr, 10)) / 1000.0;
    }
    if (auto a = e.find("MessageAttributes"); a != e.end() && a->is_object()) {
      for (const auto& [name, attr] : a->items()) {
        if (!attr.is_object()) continue;
        const std::string* type = string_field(attr, "DataType");
        const std::string* value = string_field(attr, "StringValue");
        // Binary attributes have no text form; String and Number (and their custom subtypes) do.
        if (!type || !value || !(type->starts_with("String") || type->starts_with("Number"))) continue;
        m.headers.emplace_back(name, *value);
        if (!dedup && name == "dedup_key" && !value->empty()) dedup = value;
      }
    }
    m.dedup_key = dedup && !dedup->empty() ? *dedup : *id;
    out.push_back(std::move(r));
  }
  return out;
}

void encode_delete_batch(std::string_view queue_url, std::span<const std::string> handles, std::string& out) {
  encode_entries(queue_url, handles, -1, out);
}

void encode_visibility_batch(std::string_view queue_url, std::span<const std::string> handles, int timeout_s, std::string& out) {
  encode_entries(queue_url, handles, timeout_s, out);
}

void Leases::add(std::span<const std::string> handles, Time received, std::chrono::seconds visibility) {
  std::lock_guard lock(mutex_);
  for (const auto& h : handles) leases_[h] = Lease{received, received + visibility};
}

void Leases::remove(std::span<const std::string> handles) {
  std::lock_guard lock(mutex_);
  for (const auto& h : handles) leases_.erase(h);
}

std::vector<std::string> Leases::due(Time now, std::chrono::seconds visibility) {
  std::vector<std::string> out;
  std::lock_guard lock(mutex_);
  for (auto& [handle, lease] : leases_) {
    if (now < lease.since + (lease.until - lease.since) / 2) continue;
    lease = Lease{now, now + visibility};
    out.push_back(handle);
  }
  return out;
}

std::vector<std::string> Leases::take_all() {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  out.reserve(leases_.size());
  for (auto& [handle, lease] : leases_) out.push_back(handle);
  leases_.clear();
  return out;
}

size_t Leases::size() const {
  std::lock_guard lock(mutex_);
  return leases_.size();
}

}  // namespace relay::sqs
