#include "http/schema_registry.h"

#include <nlohmann/json.hpp>

#include <vector>

namespace relay::http {

SchemaRegistry::SchemaRegistry(RegistryOptions options) : opt_(std::move(options)) {
  while (!opt_.url.empty() && opt_.url.back() == '/') opt_.url.pop_back();
}

Result<ClientResponse> SchemaRegistry::call(const std::string& method, const std::string& path, const std::string& body) {
  ++calls_;
  if (opt_.on_request) opt_.on_request();
  ClientRequest req;
  req.url = opt_.url + path;
  req.method = method;
  req.body = body;
  req.timeout_ms = opt_.timeout_ms;
  req.headers = {"Accept: application/vnd.schemaregistry.v1+json, application/json"};
  if (!body.empty()) req.headers.push_back("Content-Type: application/vnd.schemaregistry.v1+json");
  req.username = opt_.username;
  req.password = opt_.password;
  req.ca_file = opt_.ca_file;
  req.cert_file = opt_.cert_file;
  req.key_file = opt_.key_file;
  if (auto s = client_.start(req, 0); !s) return s.error();
  std::vector<std::pair<std::uint64_t, ClientResponse>> done;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(opt_.timeout_ms + 1000);
  while (done.empty() && std::chrono::steady_clock::now() < until) client_.poll(std::chrono::milliseconds(100), done);
  if (done.empty()) {
    client_.abort_all();
    return retriable("the schema registry at " + opt_.url + " did not answer in time");
  }
  ClientResponse r = std::move(done.front().second);
  if (!r.answered()) {
    Error e{classify_curl_error(r.curl_code), "the schema registry at " + opt_.url + " cannot be reached: " + r.error};
    return e;
  }
  if (r.status / 100 == 2) return r;
  // The Confluent API's errors: {"error_code": 40901, "message": "..."}.
  std::string reason = r.body;
  auto parsed = nlohmann::json::parse(r.body, nullptr, false);
  if (parsed.is_object() && parsed.contains("message") && parsed["message"].is_string()) reason = parsed["message"].get<std::string>();
  if (reason.empty()) reason = "(no reason given)";
  if (r.status == 401 || r.status == 403)
    reason += "; the registry refused the login: check schema_registry_username and schema_registry_password";
  const std::string what = "the schema registry answered " + std::to_string(r.status) + " to " + method + " " + path + ": " + reason;
  if (r.status >= 500 || r.status == 429 || r.status == 408) return retriable(what);
  return permanent(what);
}

Result<std::uint32_t> SchemaRegistry::register_schema(const std::string& subject, const std::string& schema) {
  std::lock_guard lock(mu_);
  const auto key = std::make_pair(subject, schema);
  if (auto it = ids_.find(key); it != ids_.end()) return it->second;
  const std::string body = nlohmann::json{{"schema", schema}}.dump();
  auto r = call("POST", "/subjects/" + subject + "/versions", body);
  if (!r) return r.error();
  auto parsed = nlohmann::json::parse(r->body, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("id") || !parsed["id"].is_number_unsigned())
    return permanent("the schema registry at " + opt_.url + " gave no id for subject " + subject + ": " + r->body.substr(0, 200));
  const auto id = parsed["id"].get<std::uint32_t>();
  ids_.emplace(key, id);
  schemas_.emplace(id, schema);
  return id;
}

Result<std::string> SchemaRegistry::schema_by_id(std::uint32_t id) {
  std::lock_guard lock(mu_);
  if (auto it = schemas_.find(id); it != schemas_.end()) return it->second;
  auto r = call("GET", "/schemas/ids/" + std::to_string(id), "");
  if (!r) return r.error();
  auto parsed = nlohmann::json::parse(r->body, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("schema") || !parsed["schema"].is_string())
    return permanent("the schema registry at " + opt_.url + " gave no schema for id " + std::to_string(id) + ": " + r->body.substr(0, 200));
  auto [it, _] = schemas_.emplace(id, parsed["schema"].get<std::string>());
  return it->second;
}

}  // namespace relay::http
