#include "core/dead_letters.h"

#include <nlohmann/json.hpp>

#include "util/digest.h"
#include "util/strings.h"

namespace relay::dead_letters {

namespace {

std::optional<Op> op_named(const std::string& name) {
  for (Op op : {Op::insert, Op::update, Op::delete_, Op::truncate, Op::event, Op::delta, Op::read, Op::gap})
    if (name == to_string(op)) return op;
  return std::nullopt;
}

}  // namespace

std::string as_text(const std::string& s) {
  return util::valid_text(s) && !s.starts_with("base64:") ? s : "base64:" + util::base64_encode(s);
}

std::string replay_record(const Message& m) {
  nlohmann::json headers = nlohmann::json::array();
  for (const auto& [k, v] : m.headers) headers.push_back({util::base64_encode(k), util::base64_encode(v)});
  nlohmann::json r = {{"op", to_string(m.op)},
                      {"dedup_key", util::base64_encode(m.dedup_key)},
                      {"routes", {util::base64_encode(m.routes[0]), util::base64_encode(m.routes[1])}},
                      {"key", util::base64_encode(m.key)},
                      {"headers", std::move(headers)},
                      {"source", util::base64_encode(m.source)},
                      {"subject", util::base64_encode(m.subject)},
                      {"content_type", m.content_type},
                      {"tombstone", m.tombstone}};
  // The payload alone, where the body is an envelope around it (most sinks send the body).
  if (m.data != m.body) r["data"] = util::base64_encode(m.data);
  return r.dump();
}

Result<Message> replayed_message(std::string_view record, std::string body) {
  auto r = nlohmann::json::parse(record, nullptr, false);
  if (!r.is_object()) return permanent("the stored message is not a JSON object");
  std::string problem;
  auto bytes = [&](const nlohmann::json& v, const char* what) -> std::string {
    if (!v.is_string()) {
      if (problem.empty()) problem = std::string(what) + " is not a string";
      return {};
    }
    auto d = util::base64_decode(v.get_ref<const std::string&>());
    if (!d && problem.empty()) problem = std::string(what) + " is not base64";
    return d.value_or(std::string());
  };
  // Each key read only when of its type: a stored message can be edited in SQL.
  auto text = [&](const char* key) {
    auto it = r.find(key);
    return it != r.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  Message m;
  const auto op = op_named(text("op"));
  if (!op) return permanent("the stored message has no known \"op\"");
  m.op = *op;
  m.dedup_key = bytes(r.value("dedup_key", nlohmann::json()), "dedup_key");
  const auto& routes = r.value("routes", nlohmann::json());
  if (!routes.is_array() || routes.size() != 2) return permanent("the stored message's \"routes\" is not a list of two");
  m.routes[0] = bytes(routes[0], "routes[0]");
  m.routes[1] = bytes(routes[1], "routes[1]");
  m.key = bytes(r.value("key", nlohmann::json()), "key");
  const auto& headers = r.value("headers", nlohmann::json());
  if (!headers.is_array()) return permanent("the stored message's \"headers\" is not a list");
  for (const auto& h : headers) {
    if (!h.is_array() || h.size() != 2) return permanent("a stored header is not a [name, value] pair");
    m.headers.emplace_back(bytes(h[0], "a header's name"), bytes(h[1], "a header's value"));
  }
  m.source = bytes(r.value("source", nlohmann::json()), "source");
  m.subject = bytes(r.value("subject", nlohmann::json()), "subject");
  m.content_type = text("content_type");
  if (auto t = r.find("tombstone"); t != r.end()) {
    if (!t->is_boolean()) return permanent("the stored message's \"tombstone\" is not true or false");
    m.tombstone = t->get<bool>();
  }
  m.data = r.contains("data") ? bytes(r["data"], "data") : body;
  m.body = std::move(body);
  if (!problem.empty()) return permanent("the stored message's " + problem);
  return m;
}

}  // namespace relay::dead_letters
