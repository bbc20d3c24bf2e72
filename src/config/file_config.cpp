#include "config/file_config.h"

#include <algorithm>

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <toml++/toml.h>

#include "config/specs.h"
#include "util/strings.h"

namespace relay {
namespace {

using json = nlohmann::json;

json to_json(const toml::node& node) {
  if (auto t = node.as_table()) {
    json o = json::object();
    for (const auto& [k, v] : *t) o[std::string(k.str())] = to_json(v);
    return o;
  }
  if (auto a = node.as_array()) {
    json arr = json::array();
    for (const auto& v : *a) arr.push_back(to_json(v));
    return arr;
  }
  if (auto s = node.as_string()) return s->get();
  if (auto i = node.as_integer()) return i->get();
  if (auto f = node.as_floating_point()) return f->get();
  if (auto b = node.as_boolean()) return b->get();
  std::ostringstream ss;  // dates and times: keep their TOML text
  node.visit([&](const auto& v) { ss << v; });
  return ss.str();
}

std::string line_of(const toml::node& n) {
  auto src = n.source();
  return src.begin.line ? fmt::format(" (line {})", src.begin.line) : "";
}

void read_global(const toml::table& g, GlobalSettings& out, std::vector<std::string>& problems) {
  struct Key {
    const char* name;
    const char* aliases;
    std::optional<std::string> GlobalSettings::*field;
  };
  static const Key keys[] = {
      {"postgres_url", "", &GlobalSettings::postgres_url},
      {"metrics_addr", "metrics_bind", &GlobalSettings::metrics_addr},
      {"log_format", "", &GlobalSettings::log_format},
      {"log_level", "", &GlobalSettings::log_level},
      {"relay_group_id", "ha_group", &GlobalSettings::relay_group_id},
      {"lease_timeout", "", &GlobalSettings::lease_timeout},
      {"database_pool_size", "", &GlobalSettings::database_pool_size},
      {"state_dir", "", &GlobalSettings::state_dir},
      {"console_addr", "", &GlobalSettings::console_addr},
      {"console_tls_cert", "", &GlobalSettings::console_tls_cert},
      {"console_tls_key", "", &GlobalSettings::console_tls_key},
      {"console_session_timeout", "", &GlobalSettings::console_session_timeout},
      {"sql_secrets_env_prefix", "", &GlobalSettings::sql_secrets_env_prefix},
      {"sql_secrets_dir", "", &GlobalSettings::sql_secrets_dir},
      {"sql_file_dir", "", &GlobalSettings::sql_file_dir},
      {"sql_allow_destinations", "", &GlobalSettings::sql_allow_destinations},
      {"sql_deny_destinations", "", &GlobalSettings::sql_deny_destinations},
  };
  std::vector<std::string> names;
  for (const auto& k : keys) {
    names.emplace_back(k.name);
    for (auto a : util::split_list(k.aliases)) names.emplace_back(a);
  }
  for (const auto& [key, value] : g) {
    std::string name(key.str());
    const Key* found = nullptr;
    for (const auto& k : keys)
      if (name == k.name || util::list_contains(k.aliases, name)) found = &k;
    if (!found) {
      auto s = util::did_you_mean(name, names);
      problems.push_back(fmt::format("[global]{}: unknown key \"{}\"{}; expected one of: {}", line_of(value), name,
                                     s.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", s), util::join(names, ", ")));
      continue;
    }
    // Numbers: seconds of a lease (any number), whole connections and seconds.
    struct Number {
      std::optional<std::string> GlobalSettings::*field;
      bool whole;
      const char* expected;
    };
    static const Number numbers[] = {
        {&GlobalSettings::lease_timeout, false, "a number of seconds, e.g. lease_timeout = 10"},
        {&GlobalSettings::database_pool_size, true, "a whole number of connections, e.g. database_pool_size = 4"},
        {&GlobalSettings::console_session_timeout, true, "a whole number of seconds, e.g. console_session_timeout = 1800"},
    };
    if (auto n = std::ranges::find(numbers, found->field, &Number::field); n != std::end(numbers)) {
      if (n->whole ? !value.is_integer() : !value.is_number())
        problems.push_back(fmt::format("[global]{}: key \"{}\" must be {}", line_of(value), name, n->expected));
      else
        out.*(n->field) = to_json(value).dump();
      continue;
    }
    if (!value.is_string()) {
      problems.push_back(fmt::format("[global]{}: key \"{}\" must be a string", line_of(value), name));
      continue;
    }
    out.*(found->field) = value.as_string()->get();
  }
}

// What a TOML syntax error means for someone writing a relay config: toml++'s words ("expected
// 'true', saw 'to'" for an unquoted string) plus how that construct is written and the line itself.
std::string describe_syntax_error(const toml::parse_error& e, const std::string& text, const std::string& path) {
  const auto where = e.source().begin;
  std::string description(e.description());
  auto has = [&](std::string_view what) { return description.find(what) != std::string::npos; };
  std::string hint;
  if (has("parsing boolean") || has("could not determine value type") || has("parsing value"))
    hint = "a value is a quoted string (\"text\"), a number, true or false, an array [ ... ] or an inline table { ... }";
  else if (has("parsing string") || has("unterminated"))
    hint = "a string ends on its line with the quote it opened with (\"\"\"...\"\"\" spans lines)";
  else if (has("redefine") || has("already"))
    hint = "a key or table may be given only once (each [[pipeline]] starts a new pipeline)";
  else if (has("expected '='"))
    hint = "a setting is written key = value";
  else if (has("inline table"))
    hint = "an inline table is written { key = \"value\", other = 1 } on one line";
  else if (has("parsing array"))
    hint = "an array is written [ \"a\", \"b\" ] and closed with ]";
  else if (has("table header"))
    hint = "a table header is written [global] or [[pipeline]]";
  std::string line;
  if (where.line > 0) {
    std::istringstream lines(text);
    for (std::uint32_t n = 0; n < where.line && std::getline(lines, line); ++n) {
    }
    line = util::safe_excerpt(line, 120);  // a broken line may hold a password in a URL
  }
  return fmt::format("{}:{}:{}: malformed TOML: {}{}{}", path, where.line, where.column, description,
                     hint.empty() ? "" : "; " + hint, line.empty() ? "" : fmt::format(" (line {}: {})", where.line, line));
}

}  // namespace

FileConfig parse_config_text(const std::string& text, const std::string& path, std::vector<std::string>& problems) {
  FileConfig cfg;
  cfg.path = path;
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    problems.push_back(describe_syntax_error(e, text, path));
    return cfg;
  }
  for (const auto& [key, value] : root) {
    std::string name(key.str());
    if (name == "global") {
      if (auto g = value.as_table()) read_global(*g, cfg.global, problems);
      else problems.push_back(fmt::format("{}{}: \"global\" must be a table: [global]", path, line_of(value)));
    } else if (name == "pipeline" || name == "pipelines") {
      auto arr = value.as_array();
      if (!arr) {
        problems.push_back(fmt::format("{}{}: pipelines are written as [[pipeline]] tables", path, line_of(value)));
        continue;
      }
      for (const auto& entry : *arr) {
        auto t = entry.as_table();
        if (!t) {
          problems.push_back(fmt::format("{}{}: each [[pipeline]] must be a table", path, line_of(entry)));
          continue;
        }
        json p = to_json(*t);
        std::string pname = p.contains("name") && p["name"].is_string() ? p["name"].get<std::string>() : "";
        if (pname.empty()) {
          problems.push_back(fmt::format("{}{}: a [[pipeline]] needs name = \"...\"", path, line_of(entry)));
          continue;
        }
        p.erase("name");
        for (const auto& other : cfg.pipelines)
          if (other.name == pname) problems.push_back(fmt::format("{}{}: pipeline \"{}\" is defined twice", path, line_of(entry), pname));
        // The source decides the direction: an outbox or a pgstream stream goes forward, anything
        // else fills an inbox.
        Direction dir = Direction::forward;
        // (A type that is not text is left to the validation below, which names it.)
        if (p.contains("source") && p["source"].is_object() && p["source"].contains("type") && p["source"]["type"].is_string() &&
            !is_forward_source(p["source"]["type"].get<std::string>()))
          dir = Direction::reverse;
        if (p.contains("source_type") && p["source_type"].is_string() && !is_forward_source(p["source_type"].get<std::string>()))
          dir = Direction::reverse;
        bool enabled = true;
        if (p.contains("enabled") && p["enabled"].is_boolean()) {
          enabled = p["enabled"].get<bool>();
          p.erase("enabled");
        }
        size_t before = problems.size();
        auto pc = build_pipeline_config(pname, dir, enabled, p, path, problems);
        for (size_t i = before; i < problems.size(); ++i) problems[i] = fmt::format("{}{}: {}", path, line_of(entry), problems[i]);
        cfg.pipelines.push_back(std::move(pc));
      }
    } else {
      auto s = util::did_you_mean(name, {"global", "pipeline"});
      problems.push_back(fmt::format("{}{}: unknown section \"{}\"{}; expected [global] and [[pipeline]]", path,
                                     line_of(value), name, s.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", s)));
    }
  }
  return cfg;
}

FileConfig load_config_file(const std::string& path, std::vector<std::string>& problems) {
  std::ifstream f(path);
  if (!f) {
    problems.push_back(fmt::format("cannot read config file {}: {}", path, std::strerror(errno)));
    FileConfig c;
    c.path = path;
    return c;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_config_text(ss.str(), path, problems);
}

}  // namespace relay
