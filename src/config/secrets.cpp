// ${ENV:NAME} and ${FILE:/path} references, resolved in memory when a pipeline is built (never at
// validation, which must stay pure), and redaction of secret values wherever config is shown.
#include <fmt/format.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "config/pipeline_config.h"
#include "config/specs.h"
#include "core/registry.h"
#include "util/strings.h"

namespace relay {
namespace {

using json = nlohmann::json;

const KeySpec* key_spec(const BackendSpec* spec, std::string_view key) {
  if (!spec) return nullptr;
  for (const auto& k : spec->keys)
    if (k.key == key) return &k;
  return nullptr;
}

Result<json> resolve_value(const json& v, const KeySpec* k) {
  if (v.is_object() || v.is_array()) {
    json out = v;
    for (auto& e : out) {
      auto r = resolve_value(e, nullptr);
      if (!r) return r.error();
      e = std::move(*r);
    }
    return out;
  }
  if (!v.is_string()) return v;
  auto s = resolve_secret_string(v.get<std::string>());
  if (!s) return s.error();
  bool whole_reference = v.get<std::string>() != *s && util::starts_with(v.get<std::string>(), "${") &&
                         v.get<std::string>().back() == '}';
  if (k && whole_reference) {
    try {
      if (k->type == ValueType::integer) return json(std::stoll(*s));
      if (k->type == ValueType::number) return json(std::stod(*s));
      if (k->type == ValueType::boolean) {
        if (*s == "true") return json(true);
        if (*s == "false") return json(false);
        throw std::invalid_argument("bool");
      }
    } catch (const std::exception&) {
      return fatal(fmt::format("key \"{}\": the value of {} is not {}", k->key, v.get<std::string>(),
                               k->type == ValueType::boolean ? "true or false" : "a number"));
    }
  }
  return json(std::move(*s));
}

Result<json> resolve_section(const json& section, const BackendSpec* spec) {
  json out = json::object();
  for (auto it = section.begin(); it != section.end(); ++it) {
    auto r = resolve_value(it.value(), key_spec(spec, it.key()));
    if (!r) return r.error();
    out[it.key()] = std::move(*r);
  }
  return out;
}

const BackendSpec* spec_of(Role role, const json& section) {
  if (!section.is_object() || !section.contains("type")) return nullptr;
  const auto* b = find_backend(role, section["type"].get<std::string>());
  return b ? b->spec : nullptr;
}

}  // namespace

Result<std::string> resolve_secret_string(const std::string& text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = text.find("${", i);
    if (start == std::string::npos) break;
    bool env = text.compare(start, 6, "${ENV:") == 0;
    bool file = text.compare(start, 7, "${FILE:") == 0;
    if (!env && !file) {
      out.append(text, i, start + 2 - i);
      i = start + 2;
      continue;
    }
    size_t end = text.find('}', start);
    if (end == std::string::npos) return fatal(fmt::format("\"{}\" is not closed with \"}}\"", text.substr(start, 7)));
    out.append(text, i, start - i);
    std::string ref = text.substr(start + (env ? 6 : 7), end - start - (env ? 6 : 7));
    if (env) {
      const char* v = std::getenv(ref.c_str());
      if (!v) return fatal(fmt::format("environment variable {} is not set (referenced as ${{ENV:{}}})", ref, ref));
      out += v;
    } else {
      std::ifstream f(ref, std::ios::binary);
      if (!f) return fatal(fmt::format("cannot read the secret file {} (referenced as ${{FILE:{}}})", ref, ref));
      std::stringstream ss;
      ss << f.rdbuf();
      std::string content = ss.str();
      while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) content.pop_back();
      out += content;
    }
    i = end + 1;
  }
  out.append(text, i);
  return out;
}

Result<json> resolve_secrets(const json& config) {
  json out = config;
  for (const char* part : {"source", "sink"}) {
    if (!config.contains(part)) continue;
    auto r = resolve_section(config[part], spec_of(part[1] == 'o' ? Role::source : Role::sink, config[part]));
    if (!r) return Error{r.error().kind, fmt::format("{}: {}", part, r.error().message)};
    out[part] = std::move(*r);
  }
  for (auto it = config.begin(); it != config.end(); ++it) {
    if (it.key() == "source" || it.key() == "sink") continue;
    auto r = resolve_value(it.value(), key_spec(&kPipelineSpec, it.key()));
    if (!r) return r.error();
    out[it.key()] = std::move(*r);
  }
  return out;
}

namespace {

bool is_reference(const json& v) {
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  return util::starts_with(s, "${ENV:") || util::starts_with(s, "${FILE:");
}

// A string shown as it is, but for the secrets a URL or connection string in it may carry.
void redact_urls_in(json& v) {
  if (v.is_string()) v = util::redact_url(v.get_ref<const std::string&>());
  else if (v.is_array() || v.is_object())
    for (auto& e : v) redact_urls_in(e);
}

}  // namespace

json redact_config(const json& canonical) {
  json out = canonical;
  for (const char* part : {"source", "sink"}) {
    if (!out.contains(part) || !out[part].is_object()) continue;
    const BackendSpec* spec = spec_of(part[1] == 'o' ? Role::source : Role::sink, out[part]);
    for (auto it = out[part].begin(); it != out[part].end(); ++it) {
      if (is_reference(it.value())) continue;  // names where the secret is, not the secret
      if (it.key() == "rdkafka" && it.value().is_object()) {
        // librdkafka properties naming a password, secret, token, private key or OAuth config are secret.
        static const std::regex secret_name("password|secret|token|key\\.pem|private|oauthbearer\\.config", std::regex::icase);
        for (auto p = it.value().begin(); p != it.value().end(); ++p) {
          if (is_reference(p.value())) continue;
          if (std::regex_search(p.key(), secret_name)) p.value() = "***";
          else redact_urls_in(p.value());
        }
        continue;
      }
      if (it.key() == "headers" && it.value().is_object()) {
        // Webhook headers carry credentials (Authorization, API keys) under any name.
        for (auto& h : it.value())
          if (!is_reference(h)) h = "***";
        continue;
      }
      const KeySpec* k = key_spec(spec, it.key());
      if (k && k->secret) it.value() = "***";
      else redact_urls_in(it.value());
    }
  }
  return out;
}

}  // namespace relay
