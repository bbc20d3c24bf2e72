// ${ENV:NAME} and ${FILE:/path} references, resolved in memory when a pipeline is built (never at
// validation, which must stay pure), and redaction of secret values wherever config is shown.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "config/host_paths.h"
#include "config/pipeline_config.h"
#include "config/specs.h"
#include "util/strings.h"

namespace relay {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxSqlSecretFile = 1 << 20;  // a secret, not a data file

const KeySpec* key_spec(const BackendSpec* spec, std::string_view key) {
  if (!spec) return nullptr;
  for (const auto& k : spec->keys)
    if (k.key == key) return &k;
  return nullptr;
}

// ${ENV:NAME}: any variable for the operator's own pipelines; for one defined in SQL only names
// with the operator's prefix (the relay's environment holds its own credentials, e.g. PGPASSWORD).
Result<std::string> env_secret(const std::string& name, const HostAccess* limits) {
  if (limits && (limits->secrets_env_prefix.empty() || !util::starts_with(name, limits->secrets_env_prefix)))
    return fatal(fmt::format("${{ENV:{}}}: a pipeline defined in SQL reads only environment variables whose names start with "
                             "the prefix the operator sets with --sql-secrets-env-prefix ({})",
                             name, limits->secrets_env_prefix.empty() ? "not set, so none"
                                                                      : "now \"" + limits->secrets_env_prefix + "\""));
  const char* v = std::getenv(name.c_str());
  if (!v) return fatal(fmt::format("environment variable {} is not set (referenced as ${{ENV:{}}})", name, name));
  return std::string(v);
}

// ${FILE:path}: any file for the operator's own pipelines; for one defined in SQL only a regular
// file under the operator's secrets directory, opened without following a link swapped in since.
Result<std::string> file_secret(const std::string& path, const HostAccess* limits) {
  std::string content;
  if (!limits) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return fatal(fmt::format("cannot read the secret file {} (referenced as ${{FILE:{}}})", path, path));
    std::stringstream ss;
    ss << f.rdbuf();
    content = ss.str();
  } else {
    std::string what = "${FILE:" + path + "}";
    auto real = readable_file_under(limits->secrets_dir, path, what, "--sql-secrets-dir");
    if (!real) return real.error();
    int fd = ::open(real->c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<size_t>(st.st_size) > kMaxSqlSecretFile) {
      if (fd >= 0) ::close(fd);
      return fatal(fmt::format("{}: cannot read it as a secret file (a regular file of at most 1 MiB under --sql-secrets-dir)", what));
    }
    char buf[8192];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0 && content.size() <= kMaxSqlSecretFile;) content.append(buf, static_cast<size_t>(n));
    ::close(fd);
  }
  while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) content.pop_back();
  return content;
}

// librdkafka properties that name files it reads, and those that load code or run commands on the
// relay's host (or log in with the host's Kerberos credentials): the latter only from the operator's TOML.
bool rdkafka_runs_host_code(const std::string& name, const json& value) {
  static const std::set<std::string> code = {"plugin.library.paths", "ssl.engine.location", "sasl.kerberos.kinit.cmd",
                                             "ssl.providers"};
  if (code.count(name)) return true;
  if (name != "sasl.mechanism" && name != "sasl.mechanisms") return false;
  std::string v = value.is_string() ? value.get<std::string>() : value.dump();
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::toupper(c); });
  return v.find("GSSAPI") != std::string::npos;
}
bool rdkafka_names_file(const std::string& name) {
  return name.ends_with(".location") || name.ends_with(".file") || name == "sasl.kerberos.keytab";
}

// In a pipeline defined in SQL, a key naming a file the relay reads: written literally (its value
// would show in errors) and under the operator's secrets directory. Returns the file's real path.
Result<std::string> host_file_value(const std::string& key, const json& v, const HostAccess& limits) {
  std::string what = "key \"" + key + "\"";
  if (!v.is_string()) return fatal(what + ": expected a file path");
  const auto& path = v.get_ref<const std::string&>();
  if (holds_reference(path))
    return fatal(what + ": a file path of a pipeline defined in SQL is written literally, without ${ENV:...} or ${FILE:...}");
  return readable_file_under(limits.secrets_dir, path, what, "--sql-secrets-dir");
}

Result<json> resolve_value(const json& v, const KeySpec* k, const HostAccess* limits) {
  if (v.is_object() || v.is_array()) {
    json out = v;
    for (auto& e : out) {
      auto r = resolve_value(e, nullptr, limits);
      if (!r) return r;
      e = std::move(*r);
    }
    return out;
  }
  if (!v.is_string()) return v;
  auto s = resolve_secret_string(v.get<std::string>(), limits);
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

// The librdkafka pass-through of a pipeline defined in SQL: file properties under the secrets
// directory, none that runs code on the host.
Result<json> resolve_rdkafka(const json& props, const HostAccess& limits) {
  json out = json::object();
  for (auto it = props.begin(); it != props.end(); ++it) {
    std::string name = it.key();
    std::replace(name.begin(), name.end(), '_', '.');  // librdkafka accepts both spellings
    if (rdkafka_runs_host_code(name, it.value()))
      return fatal(fmt::format("key \"rdkafka.{}\": a pipeline defined in SQL may not set it (it loads code, runs a command "
                               "or uses the Kerberos credentials of the relay's host); define the pipeline in the "
                               "operator's TOML file instead", it.key()));
    if (rdkafka_names_file(name) && it.value() != "probe") {
      auto real = host_file_value("rdkafka." + it.key(), it.value(), limits);
      if (!real) return real.error();
      out[it.key()] = *real;
      continue;
    }
    auto r = resolve_value(it.value(), nullptr, &limits);
    if (!r) return r;
    out[it.key()] = std::move(*r);
  }
  return out;
}

Result<json> resolve_section(const json& section, const BackendSpec* spec, const HostAccess* limits) {
  json out = json::object();
  for (auto it = section.begin(); it != section.end(); ++it) {
    const KeySpec* k = key_spec(spec, it.key());
    Result<json> r = json();
    if (limits && it.key() == "rdkafka" && it.value().is_object()) {
      r = resolve_rdkafka(it.value(), *limits);
    } else if (limits && k && k->host_file == HostFile::read) {
      auto real = host_file_value(it.key(), it.value(), *limits);
      if (!real) return real.error();
      r = json(*real);
    } else if (limits && k && k->host_file == HostFile::write && it.value().is_string() &&
               holds_reference(it.value())) {
      // Where it may write is the sink's to check, when it opens the file.
      return fatal(fmt::format("key \"{}\": a file path of a pipeline defined in SQL is written literally, without "
                               "${{ENV:...}} or ${{FILE:...}}", it.key()));
    } else {
      r = resolve_value(it.value(), k, limits);
    }
    if (!r) return r.error();
    out[it.key()] = std::move(*r);
  }
  return out;
}

const BackendSpec* spec_of(Role role, const json& section) {
  if (!section.is_object() || !section.contains("type")) return nullptr;
  return find_spec(role, section["type"].get<std::string>());
}

}  // namespace

bool holds_reference(const json& v) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    return s.find("${ENV:") != std::string::npos || s.find("${FILE:") != std::string::npos;
  }
  return v.is_structured() && std::any_of(v.begin(), v.end(), [](const json& e) { return holds_reference(e); });
}

Result<std::string> resolve_secret_string(const std::string& text, const HostAccess* limits) {
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
    auto value = env ? env_secret(ref, limits) : file_secret(ref, limits);
    if (!value) return value.error();
    // Whatever check later refuses the value and quotes it, errors and logs show the reference.
    util::show_as_reference(*value, text.substr(start, end + 1 - start));
    out += *value;
    i = end + 1;
  }
  out.append(text, i);
  return out;
}

Result<json> resolve_secrets(const json& config, const HostAccess* limits) {
  json out = config;
  for (const char* part : {"source", "sink"}) {
    if (!config.contains(part)) continue;
    auto r = resolve_section(config[part], spec_of(part[1] == 'o' ? Role::source : Role::sink, config[part]), limits);
    if (!r) return Error{r.error().kind, fmt::format("{}: {}", part, r.error().message)};
    out[part] = std::move(*r);
  }
  for (auto it = config.begin(); it != config.end(); ++it) {
    if (it.key() == "source" || it.key() == "sink") continue;
    auto r = resolve_value(it.value(), key_spec(&kPipelineSpec, it.key()), limits);
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
