#include "backends/sqs/sqs_encode.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

#include "util/digest.h"
#include "util/header_value.h"
#include "util/json_escape.h"
#include "util/strings.h"

namespace relay::sqs {
namespace {

// SQS's rules for a message attribute name.
bool valid_attribute_name(std::string_view n) {
  if (n.empty() || n.size() > 256 || n.front() == '.' || n.back() == '.' || n.find("..") != std::string_view::npos) return false;
  if (util::istarts_with(n, "AWS.") || util::istarts_with(n, "Amazon.")) return false;
  return std::all_of(n.begin(), n.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'; });
}

// Characters SQS refuses in a string (the XML 1.0 ones outside #x9 #xA #xD #x20-…): the ASCII controls.
bool valid_attribute_value(std::string_view v) {
  return std::none_of(v.begin(), v.end(), [](char c) {
    unsigned char u = static_cast<unsigned char>(c);
    return u < 0x20 && u != '\t' && u != '\n' && u != '\r';
  });
}

constexpr std::string_view kReserved[] = {"dedup_key", "op", "stream_table"};

const std::string* field(const nlohmann::json& j, const char* a, const char* b) {
  for (const char* k : {a, b}) {
    auto it = j.find(k);
    if (it != j.end() && it->is_string()) return it->get_ptr<const std::string*>();
  }
  return nullptr;
}

}  // namespace

std::string fifo_id(std::string_view text) {
  bool ok = !text.empty() && text.size() <= 128 &&
            std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  if (ok) return std::string(text);
  return "sha256:" + util::sha256_hex(text);
}

void attributes(const Message& m, AttributeBuffers& buf, std::vector<std::pair<std::string_view, std::string_view>>& out) {
  auto add = [&](std::string_view name, std::string_view value) {
    if (out.size() < kMaxAttributes && !value.empty() && valid_attribute_value(value)) out.emplace_back(name, value);
  };
  add("dedup_key", util::header_safe(m.dedup_key, buf.dedup_key));
  add("op", to_string(m.op));
  add("stream_table", util::header_safe(m.source, buf.stream_table));
  for (const auto& [name, value] : m.headers) {
    if (!valid_attribute_name(name)) continue;
    if (std::find(std::begin(kReserved), std::end(kReserved), name) != std::end(kReserved)) continue;
    add(name, value);
  }
}

size_t message_size(const Message& m) {
  AttributeBuffers buf;
  std::vector<std::pair<std::string_view, std::string_view>> attrs;
  attributes(m, buf, attrs);
  size_t size = m.body.size();
  for (const auto& [n, v] : attrs) size += n.size() + 6 + v.size();  // 6 = "String"
  return size;
}

void encode_batch(std::string_view queue_url, bool fifo, std::span<const Message* const> batch, std::string& out) {
  AttributeBuffers buf;
  std::vector<std::pair<std::string_view, std::string_view>> attrs;
  out += "{\"QueueUrl\":";
  util::append_json_string(out, queue_url);
  out += ",\"Entries\":[";
  for (size_t i = 0; i < batch.size(); ++i) {
    const Message& m = *batch[i];
    if (i) out += ',';
    out += "{\"Id\":\"";
    util::append_int(out, static_cast<std::int64_t>(i));
    out += "\",\"MessageBody\":";
    util::append_json_string(out, m.body);
    attrs.clear();
    attributes(m, buf, attrs);
    if (!attrs.empty()) {
      out += ",\"MessageAttributes\":{";
      for (size_t a = 0; a < attrs.size(); ++a) {
        if (a) out += ',';
        util::append_json_string(out, attrs[a].first);
        out += ":{\"DataType\":\"String\",\"StringValue\":";
        util::append_json_string(out, attrs[a].second);
        out += '}';
      }
      out += '}';
    }
    if (fifo) {
      out += ",\"MessageGroupId\":";
      util::append_json_string(out, fifo_id(m.routes[0].empty() ? std::string_view("default") : std::string_view(m.routes[0])));
      out += ",\"MessageDeduplicationId\":";
      util::append_json_string(out, fifo_id(m.dedup_key));
    }
    out += '}';
  }
  out += "]}";
}

Result<std::vector<std::optional<EntryResult>>> parse_batch_answer(std::string_view body, size_t n) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return retriable("SQS: unreadable SendMessageBatch answer");
  std::vector<std::optional<EntryResult>> out(n);
  auto index = [&](const nlohmann::json& e) -> long {
    const std::string* id = field(e, "Id", "id");
    if (!id || id->empty() || id->size() > 2 || !std::all_of(id->begin(), id->end(), ::isdigit)) return -1;
    long i = std::stol(*id);
    return i < static_cast<long>(n) ? i : -1;
  };
  if (auto it = j.find("Successful"); it != j.end() && it->is_array())
    for (const auto& e : *it)
      if (long i = index(e); i >= 0) out[i] = EntryResult{true, false, {}, {}};
  if (auto it = j.find("Failed"); it != j.end() && it->is_array()) {
    for (const auto& e : *it) {
      long i = index(e);
      if (i < 0) continue;
      EntryResult r;
      const auto fault = e.find("SenderFault");
      r.sender_fault = fault != e.end() && fault->is_boolean() && fault->get<bool>();
      if (const auto* c = field(e, "Code", "code")) r.code = *c;
      if (const auto* m = field(e, "Message", "message")) r.message = *m;
      out[i] = std::move(r);
    }
  }
  return out;
}

std::string error_code(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return {};
  const std::string* t = field(j, "__type", "code");
  if (!t) return {};
  auto hash = t->rfind('#');
  return util::safe_excerpt(hash == std::string::npos ? *t : t->substr(hash + 1), 100);
}

std::string error_message(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  // The server's words go to logs and the status table: a short, sanitized excerpt only.
  if (j.is_discarded() || !j.is_object()) return util::safe_excerpt(body);
  const std::string* m = field(j, "message", "Message");
  return m ? util::safe_excerpt(*m) : std::string();
}

Fault classify_request_error(long http_status, std::string_view code) {
  static constexpr std::string_view transient[] = {
      "ThrottlingException", "RequestThrottled", "ServiceUnavailable", "InternalError", "InternalFailure",
      "KmsThrottled", "RequestTimeout", "RequestTimeoutException", "ServiceUnavailableException"};
  static constexpr std::string_view setup[] = {
      "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "NonExistentQueue", "InvalidClientTokenId",
      "UnrecognizedClientException", "SignatureDoesNotMatch", "IncompleteSignature", "MissingAuthenticationToken",
      "AccessDenied", "AccessDeniedException", "ExpiredToken", "ExpiredTokenException", "RequestExpired", "InvalidSecurity",
      "OptInRequired", "KmsAccessDenied", "KmsDisabled", "KmsInvalidKeyUsage", "KmsInvalidState", "KmsNotFound", "KmsOptInRequired",
      "InvalidAddress", "UnsupportedOperation", "QueueDeletedRecently"};
  for (auto c : transient)
    if (code == c) return Fault::transient;
  for (auto c : setup)
    if (code == c) return Fault::setup;
  if (http_status >= 500 || http_status == 429 || http_status == 408) return Fault::transient;
  if (http_status == 401 || http_status == 403 || http_status == 404) return Fault::setup;
  if (code.empty()) return Fault::transient;  // an answer that is not SQS's (a proxy's): not the message's fault
  // InvalidParameterValue, InvalidMessageContents, BatchRequestTooLong, MissingParameter, ...
  return Fault::message;
}

Fault classify_entry_error(std::string_view code, bool sender_fault) {
  Fault f = classify_request_error(0, code);
  if (f != Fault::message) return f;
  return sender_fault ? Fault::message : Fault::transient;
}

}  // namespace relay::sqs
