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
    auto named = named_object(spec, k.key);
    out += fmt::format("({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})\n", sql_text(to_string(spec.role)), sql_text(spec.name),
                       sql_text(k.key), sql_text(to_string(k.type)), k.required ? "true" : "false",
                       k.one_of.empty() ? "NULL" : sql_text(k.one_of),
                       k.allowed.empty() ? "NULL" : sql_array(k.allowed), sql_array(k.aliases), k.secret ? "true" : "false",
                       k.default_json.empty() ? "NULL" : sql_text(k.default_json) + "::jsonb",
                       integer ? std::to_string(k.min) : "NULL", integer ? std::to_string(k.max) : "NULL",
                       named.empty() ? "NULL" : sql_text(named), sql_text(k.description));
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
  out += "INSERT INTO pgtrickle.relay_config_keys (role, backend, key, value_type, required, one_of, allowed, aliases, secret, default_value, min_value, max_value, names_object, description) VALUES\n";
  first = true;
  key_rows(kPipelineSpec, out, first);
  for (const auto* spec : backend_specs()) key_rows(*spec, out, first);
  out += ";\n";
  return out;
}

namespace {
// How a rendering writes plain text, literal text (key names, values) and emphasis.
struct Markup {
  std::string (*text)(std::string_view);
  std::string (*code)(std::string_view);
  std::string (*strong)(std::string_view);
};
const Markup kMarkdown{[](std::string_view s) { return std::string(s); }, [](std::string_view s) { return fmt::format("`{}`", s); },
                       [](std::string_view s) { return fmt::format("**{}**", s); }};
const Markup kRoff{[](std::string_view s) { return roff_escape(s); },
                   [](std::string_view s) { return fmt::format("\\fB{}\\fR", roff_escape(s)); },
                   [](std::string_view s) { return fmt::format("\\fB{}\\fR", roff_escape(s)); }};

// What the spec says of a key beyond its description: one text for every rendering.
std::string key_notes(const BackendSpec& spec, const KeySpec& k, const Markup& m) {
  auto codes = [&](std::string_view list, std::string_view sep) {
    std::string out;
    for (auto item : util::split_list(list)) out += (out.empty() ? "" : std::string(sep)) + m.code(item);
    return out;
  };
  std::string notes;
  if (k.required) notes += " " + m.strong("Required.");
  if (!k.one_of.empty()) notes += fmt::format(" Exactly one of the {} group.", m.code(k.one_of));
  if (!k.aliases.empty()) notes += fmt::format(" Also accepted: {}.", codes(k.aliases, ", "));
  if (k.type == ValueType::integer)
    notes += m.text(k.max == kNoLimit ? fmt::format(" At least {}.", k.min) : fmt::format(" From {} to {}.", k.min, k.max));
  if (k.secret) notes += " Secret: never printed.";
  if (k.host_file == HostFile::read) notes += m.text(" A pipeline defined in SQL names only a file under --sql-secrets-dir.");
  if (k.template_) notes += " Template.";
  if (auto named = named_object(spec, k.key); !named.empty())
    notes += m.text(fmt::format(" Names {}: written as it is, never ${{ENV:...}} or ${{FILE:...}}.", named));
  return notes;
}

void markdown_table(const BackendSpec& spec, std::string& out) {
  out += "| key | type | default | description |\n|---|---|---|---|\n";
  for (const auto& k : spec.keys) {
    std::string type = to_string(k.type);
    if (!k.allowed.empty()) type = fmt::format("{}", fmt::join(util::split_list(k.allowed), " \\| "));
    out += fmt::format("| `{}` | {} | {} | {}{} |\n", k.key, type, k.default_json.empty() ? "" : "`" + std::string(k.default_json) + "`",
                       k.description, key_notes(spec, k, kMarkdown));
  }
  out += "\n";
}

// A backend's keys as a roff tagged list: the key and its type (or values) and default, then the text.
void roff_keys(const BackendSpec& spec, std::string& out) {
  for (const auto& k : spec.keys) {
    std::string type = k.allowed.empty() ? to_string(k.type) : fmt::format("{}", fmt::join(util::split_list(k.allowed), " | "));
    out += fmt::format(".TP\n\\fB{}\\fR ({}{})\n{}{}\n", roff_escape(k.key), roff_escape(type),
                       k.default_json.empty() ? "" : ", default " + roff_escape(k.default_json), roff_escape(k.description),
                       key_notes(spec, k, kRoff));
  }
}

// The sections of the config reference in the order of docs/config-reference.md.
template <class Heading, class Keys>
void each_spec(Heading heading, Keys keys) {
  for (Role role : {Role::source, Role::sink})
    for (const auto* spec : backend_specs())
      if (spec->role == role) {
        heading(*spec);
        keys(*spec);
      }
}
}  // namespace

std::string roff_escape(std::string_view text) {
  std::string out;
  bool line_start = true;
  for (char c : text) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    if (c == '\\') out += "\\e";
    else if (c == '-') out += "\\-";
    else out += c;
    line_start = c == '\n';
  }
  return out;
}

std::string spec_as_roff() {
  std::string out = ".SH CONFIGURATION\n"
                    "Each pipeline joins a source to a sink. The same keys apply in the TOML file ([[pipeline]] tables with "
                    "\\fBsource\\fR and \\fBsink\\fR tables) and in the SQL catalog (pgtrickle.set_relay_outbox and "
                    "pgtrickle.set_relay_inbox). \\fBpgtrickle\\-relay spec\\fR \\fIbackend\\fR prints a backend's keys.\n"
                    ".SS Pipeline options\n";
  roff_keys(kPipelineSpec, out);
  Role last = Role::pipeline;
  each_spec(
      [&](const BackendSpec& spec) {
        if (spec.role != last) out += spec.role == Role::source ? ".SS Sources\n" : ".SS Sinks\n";
        last = spec.role;
        out += fmt::format(".PP\n\\fB{}\\fR \\(em {}", roff_escape(spec.name), roff_escape(spec.description));
        if (!spec.type_aliases.empty()) out += roff_escape(fmt::format(" Type also accepted as {}.", fmt::join(util::split_list(spec.type_aliases), ", ")));
        out += "\n";
      },
      [&](const BackendSpec& spec) { roff_keys(spec, out); });
  return out;
}

std::string spec_as_markdown() {
  std::string out =
      "# Configuration reference\n\n"
      "Generated from the backend specs by `pgtrickle-relay spec --markdown`; the same specs drive the validator of "
      "the TOML file, of `set_relay_outbox` / `set_relay_inbox`, and of `pgtrickle-relay validate`.\n\n"
      "## Pipeline options\n\n";
  markdown_table(kPipelineSpec, out);
  Role last = Role::pipeline;
  each_spec(
      [&](const BackendSpec& spec) {
        if (spec.role != last) out += spec.role == Role::source ? "## Sources\n\n" : "## Sinks\n\n";
        last = spec.role;
        // The reference describes the product, not one build.
        out += fmt::format("### `{}`\n\n{}", spec.name, spec.description);
        if (!spec.type_aliases.empty()) out += fmt::format(" Type also accepted as `{}`.", fmt::join(util::split_list(spec.type_aliases), "`, `"));
        if (!spec.flat_prefixes.empty())
          out += fmt::format(" In the flat SQL form its keys may be prefixed with `{}`.", fmt::join(util::split_list(spec.flat_prefixes), "` or `"));
        out += "\n\n";
      },
      [&](const BackendSpec& spec) { markdown_table(spec, out); });
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
