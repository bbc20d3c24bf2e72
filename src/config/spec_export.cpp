#include "config/spec_export.h"

#include <fmt/format.h>

#include "config/specs.h"
#include "util/strings.h"

namespace relay {
namespace {

std::string sql_text(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string sql_array(std::string_view list) {
  auto items = util::split_list(list);
  if (items.empty()) return "'{}'::text[]";
  std::string out = "ARRAY[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + sql_text(items[i]);
  return out + "]::text[]";
}

void key_rows(const BackendSpec& spec, std::string& out, bool& first) {
  for (const auto& k : spec.keys) {
    out += first ? "  " : " ,";
    first = false;
    bool integer = k.type == ValueType::integer;
    out += fmt::format("({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})\n", sql_text(to_string(spec.role)), sql_text(spec.name),
                       sql_text(k.key), sql_text(to_string(k.type)), k.required ? "true" : "false",
                       k.one_of.empty() ? "NULL" : sql_text(k.one_of),
                       k.allowed.empty() ? "NULL" : sql_array(k.allowed), sql_array(k.aliases), k.secret ? "true" : "false",
                       k.default_json.empty() ? "NULL" : sql_text(k.default_json) + "::jsonb",
                       integer ? std::to_string(k.min) : "NULL", integer ? std::to_string(k.max) : "NULL", sql_text(k.description));
  }
}

}  // namespace

std::string spec_as_sql() {
  std::string out;
  out += "-- The config spec rows: generated from the backend specs by `pgtrickle-relay spec --sql`\n"
         "-- (scripts/regen.sh writes this file); edit the specs, not this file.\n";
  out += "DELETE FROM pgtrickle.relay_config_keys;\nDELETE FROM pgtrickle.relay_backends;\n";
  out += "INSERT INTO pgtrickle.relay_backends (role, backend, type_aliases, flat_prefixes, description) VALUES\n";
  bool first = true;
  for (const auto* spec : backend_specs()) {
    out += first ? "  " : " ,";
    first = false;
    out += fmt::format("({}, {}, {}, {}, {})\n", sql_text(to_string(spec->role)), sql_text(spec->name),
                       sql_array(spec->type_aliases), sql_array(spec->flat_prefixes), sql_text(spec->description));
  }
  out += ";\n";
  out += "INSERT INTO pgtrickle.relay_config_keys (role, backend, key, value_type, required, one_of, allowed, aliases, secret, default_value, min_value, max_value, description) VALUES\n";
  first = true;
  key_rows(kPipelineSpec, out, first);
  for (const auto* spec : backend_specs()) key_rows(*spec, out, first);
  out += ";\n";
  return out;
}

namespace {
void markdown_table(const BackendSpec& spec, std::string& out) {
  out += "| key | type | default | description |\n|---|---|---|---|\n";
  for (const auto& k : spec.keys) {
    std::string type = to_string(k.type);
    if (!k.allowed.empty()) type = fmt::format("{}", fmt::join(util::split_list(k.allowed), " \\| "));
    std::string notes;
    if (k.required) notes += " **Required.**";
    if (!k.one_of.empty()) notes += fmt::format(" Exactly one of the `{}` group.", k.one_of);
    if (!k.aliases.empty()) notes += fmt::format(" Also accepted: `{}`.", fmt::join(util::split_list(k.aliases), "`, `"));
    if (k.type == ValueType::integer)
      notes += k.max == kNoLimit ? fmt::format(" At least {}.", k.min) : fmt::format(" From {} to {}.", k.min, k.max);
    if (k.secret) notes += " Secret: never printed.";
    if (k.host_file == HostFile::read) notes += " A pipeline defined in SQL names only a file under --sql-secrets-dir.";
    if (k.template_) notes += " Template.";
    out += fmt::format("| `{}` | {} | {} | {}{} |\n", k.key, type, k.default_json.empty() ? "" : "`" + std::string(k.default_json) + "`",
                       k.description, notes);
  }
  out += "\n";
}
}  // namespace

std::string spec_as_markdown() {
  std::string out =
      "# Configuration reference\n\n"
      "Generated from the backend specs by `pgtrickle-relay spec --markdown`; the same specs drive the validator of "
      "the TOML file, of `set_relay_outbox` / `set_relay_inbox`, and of `pgtrickle-relay validate`.\n\n"
      "## Pipeline options\n\n";
  markdown_table(kPipelineSpec, out);
  for (Role role : {Role::source, Role::sink}) {
    out += role == Role::source ? "## Sources\n\n" : "## Sinks\n\n";
    for (const auto* spec : backend_specs()) {
      if (spec->role != role) continue;
      // The reference describes the product, not one build.
      out += fmt::format("### `{}`\n\n{}", spec->name, spec->description);
      if (!spec->type_aliases.empty()) out += fmt::format(" Type also accepted as `{}`.", fmt::join(util::split_list(spec->type_aliases), "`, `"));
      if (!spec->flat_prefixes.empty())
        out += fmt::format(" In the flat SQL form its keys may be prefixed with `{}`.", fmt::join(util::split_list(spec->flat_prefixes), "` or `"));
      out += "\n\n";
      markdown_table(*spec, out);
    }
  }
  return out;
}

std::string spec_as_text(const std::string& backend) {
  std::string out;
  for (const BackendSpec* spec : {&kPipelineSpec}) {
    if (backend != "pipeline") break;
    for (const auto& k : spec->keys) out += fmt::format("  {:<20} {:<12} {}\n", k.key, to_string(k.type), k.description);
    return out;
  }
  for (const auto* spec : backend_specs()) {
    if (spec->name != backend) continue;
    out += fmt::format("{} {}: {}\n", to_string(spec->role), spec->name, spec->description);
    for (const auto& k : spec->keys)
      out += fmt::format("  {:<20} {:<12}{} {}\n", k.key, to_string(k.type), k.required ? " required" : "", k.description);
  }
  return out;
}

}  // namespace relay
