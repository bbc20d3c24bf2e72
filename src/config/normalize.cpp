#include <fmt/format.h>

#include <cmath>
#include <optional>
#include <regex>
#include <set>

#include "config/pipeline_config.h"
#include "config/specs.h"
#include "config/template.h"
#include "util/strings.h"

namespace relay {
namespace {

using json = nlohmann::json;

bool is_secret_reference(const json& v) {
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  return (util::starts_with(s, "${ENV:") || util::starts_with(s, "${FILE:")) && s.back() == '}';
}

const KeySpec* find_key(const BackendSpec& spec, std::string_view key) {
  for (const auto& k : spec.keys)
    if (k.key == key || util::list_contains(k.aliases, key)) return &k;
  return nullptr;
}

std::vector<std::string> key_names(const BackendSpec& spec, std::string_view prefix = {}) {
  std::vector<std::string> out;
  for (const auto& k : spec.keys) {
    out.push_back(std::string(prefix) + std::string(k.key));
    for (auto a : util::split_list(k.aliases)) out.push_back(std::string(prefix) + std::string(a));
  }
  return out;
}

std::vector<std::string> type_names(Role role) {
  std::vector<std::string> out;
  for (const auto* spec : backend_specs())
    if (spec->role == role) out.emplace_back(spec->name);
  std::sort(out.begin(), out.end());
  return out;
}

std::string shown(const KeySpec& k, const json& v) { return k.secret ? "\"***\"" : v.dump(); }

const char* type_word(ValueType t) {
  switch (t) {
    case ValueType::string: return "a string";
    case ValueType::integer: return "an integer";
    case ValueType::number: return "a number";
    case ValueType::boolean: return "true or false";
    case ValueType::object: return "an object";
    case ValueType::array: return "an array";
    case ValueType::string_list: return "a string or an array of strings";
    case ValueType::enumeration: return "one of the listed values";
    case ValueType::subject: return "a subject string";
    case ValueType::slot_name: return "a replication slot name";
  }
  return "a value";
}

bool type_ok(ValueType t, const json& v) {
  switch (t) {
    case ValueType::string:
    case ValueType::enumeration:
    case ValueType::subject:
    case ValueType::slot_name: return v.is_string();
    case ValueType::integer: {
      if (v.is_number_integer()) return true;
      if (!v.is_number_float()) return false;
      // An integral float (jsonb keeps "100.0") within 64 bits; a larger one cannot be converted.
      double d = v.get<double>();
      return d >= -9.2e18 && d <= 9.2e18 && d == std::trunc(d);
    }
    case ValueType::number: return v.is_number();
    case ValueType::boolean: return v.is_boolean();
    case ValueType::object: return v.is_object();
    case ValueType::array: return v.is_array();
    case ValueType::string_list:
      if (v.is_string()) return true;
      if (!v.is_array()) return false;
      for (const auto& e : v)
        if (!e.is_string()) return false;
      return true;
  }
  return false;
}

// The value of an integer key (type_ok accepted it), if it fits in 64 bits.
std::optional<int64_t> as_int64(const json& v) {
  if (v.is_number_unsigned()) {
    auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(kNoLimit)) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  return static_cast<int64_t>(v.get<double>());
}

// A NATS publish subject must be concrete: no "*" or ">" token.
bool has_wildcard_token(std::string_view s) {
  for (auto tok : util::split_list(s, '.'))
    if (tok == "*" || tok == ">") return true;
  return false;
}

// Checks one section (a source, a sink, or the pipeline options) against its spec and returns it
// with canonical key names and defaults filled.
json check_section(const BackendSpec& spec, const json& in, const std::string& where, std::vector<std::string>& problems) {
  json out = json::object();
  std::set<std::string_view> given;  // canonical keys present, valid or not (no "missing" on top of "wrong")
  for (auto it = in.begin(); it != in.end(); ++it) {
    const std::string& key = it.key();
    if (key == "type" && spec.role != Role::pipeline) continue;
    if (it.value().is_null()) continue;  // null means "not set" (pg_trickle stores "group": null)
    // librdkafka pass-through written as "rdkafka.<property>" keys.
    if (util::starts_with(key, "rdkafka.") && find_key(spec, "rdkafka")) {
      out["rdkafka"][key.substr(8)] = it.value().is_string() ? it.value() : json(it.value().dump());
      continue;
    }
    const KeySpec* k = find_key(spec, key);
    if (!k) {
      auto suggestion = util::did_you_mean(key, key_names(spec));
      problems.push_back(fmt::format("{}: unknown key \"{}\"{}; expected one of: {}", where, key,
                                     suggestion.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", suggestion),
                                     util::join(key_names(spec), ", ")));
      continue;
    }
    if (given.count(k->key)) {
      problems.push_back(fmt::format("{}: key \"{}\" is given twice (as \"{}\" and another spelling); keep one", where, k->key, key));
      continue;
    }
    given.insert(k->key);
    const json& v = it.value();
    if (auto named = named_object(spec, k->key); !named.empty() && holds_reference(v)) {
      problems.push_back(fmt::format("{}: {}", where, reference_in_name_problem(k->key, named)));
      continue;
    }
    if (!is_secret_reference(v)) {
      if (!type_ok(k->type, v)) {
        problems.push_back(fmt::format("{}: key \"{}\" must be {}, got {}", where, k->key, type_word(k->type), shown(*k, v)));
        continue;
      }
      if (k->type == ValueType::enumeration && !util::list_contains(k->allowed, v.get<std::string>())) {
        auto allowed = util::split_list(k->allowed);
        problems.push_back(fmt::format("{}: key \"{}\" must be one of {}, got {}", where, k->key,
                                       fmt::join(allowed, ", "), shown(*k, v)));
        continue;
      }
      if (k->type == ValueType::subject && has_wildcard_token(v.get<std::string>())) {
        std::string s = v.get<std::string>();
        std::string prefix = s.substr(0, s.find_first_of("*>"));
        problems.push_back(fmt::format(
            "{}: key \"{}\": \"{}\" is a wildcard, but a publish subject must be concrete; use a template such as \"{}{{op}}\"",
            where, k->key, s, prefix.empty() ? "events." : prefix));
        continue;
      }
      if (k->type == ValueType::slot_name && !is_relay_slot_name(v.get<std::string>())) {
        problems.push_back(fmt::format("{}: key \"{}\": {}", where, k->key, relay_slot_name_rule(v.get<std::string>())));
        continue;
      }
      if (k->template_ && v.is_string()) {
        auto t = Template::compile(v.get<std::string>());
        if (!t) {
          problems.push_back(fmt::format("{}: key \"{}\": {}", where, k->key, t.error().message));
          continue;
        }
      }
    }
    if (k->type == ValueType::integer && !is_secret_reference(v)) {
      // Canonical: a 64-bit integer within the key's range (jsonb may hand over "100.0").
      auto n = as_int64(v);
      if (!n || *n < k->min || *n > k->max) {
        problems.push_back(k->max == kNoLimit
                               ? fmt::format("{}: key \"{}\" must be at least {}, got {}", where, k->key, k->min, shown(*k, v))
                               : fmt::format("{}: key \"{}\" must be between {} and {}, got {}", where, k->key, k->min, k->max, shown(*k, v)));
        continue;
      }
      out[std::string(k->key)] = *n;
      continue;
    }
    out[std::string(k->key)] = v;
  }
  // Required keys, one-of groups and defaults.
  std::vector<std::string_view> groups_seen;
  for (const auto& k : spec.keys) {
    if (k.required && !given.count(k.key))
      problems.push_back(fmt::format("{}: missing required key \"{}\" ({})", where, k.key, k.description));
    if (!k.one_of.empty() && std::find(groups_seen.begin(), groups_seen.end(), k.one_of) == groups_seen.end()) {
      groups_seen.push_back(k.one_of);
      std::vector<std::string> members, present;
      for (const auto& m : spec.keys)
        if (m.one_of == k.one_of) {
          members.emplace_back(m.key);
          if (given.count(m.key)) present.emplace_back(m.key);
        }
      if (present.size() != 1)
        problems.push_back(fmt::format("{}: needs exactly one of {}, got {}", where, util::join(members, ", "),
                                       present.empty() ? std::string("none") : util::join(present, " and ")));
    }
    if (!given.count(k.key) && !k.default_json.empty()) out[std::string(k.key)] = json::parse(k.default_json);
  }
  return out;
}

// Resolves a "type" value to its backend, reporting unknown types with the valid ones.
const BackendSpec* resolve_type(Role role, const json& type, const std::string& where, const char* type_key,
                                 std::vector<std::string>& problems) {
  auto valid = type_names(role);
  if (!type.is_string() || type.get<std::string>().empty()) {
    problems.push_back(fmt::format("{}: missing \"{}\"; expected one of: {}", where, type_key, util::join(valid, ", ")));
    return nullptr;
  }
  const auto& t = type.get_ref<const std::string&>();
  if (const auto* spec = find_spec(role, t)) return spec;
  auto suggestion = util::did_you_mean(t, valid);
  problems.push_back(fmt::format("{}: unknown {} \"{}\"{}; expected one of: {}", where, type_key, t,
                                 suggestion.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", suggestion),
                                 util::join(valid, ", ")));
  return nullptr;
}

bool spec_has(const BackendSpec& spec, std::string_view key) { return find_key(spec, key) != nullptr; }

// The flat form of seed 001: {"stream_table":..., "sink_type":"nats", "nats_url":..., ...}.
json flat_to_nested(Direction dir, const json& in, const std::string& where, std::vector<std::string>& problems) {
  // A forward pipeline naming "tables" reads them from the WAL; else an outbox.
  json src_type = dir == Direction::forward ? in.value("source_type", json(in.contains("tables") ? "wal" : "outbox"))
                                            : in.value("source_type", json());
  json sink_type = dir == Direction::forward ? in.value("sink_type", json()) : in.value("sink_type", json("pg-inbox"));
  const auto* src = resolve_type(Role::source, src_type, where, "source_type", problems);
  const auto* sink = resolve_type(Role::sink, sink_type, where, "sink_type", problems);
  if (!src || !sink) return json();

  json out = json::object();
  json source = {{"type", src->name}};
  json sink_obj = {{"type", sink->name}};
  const BackendSpec& far = dir == Direction::forward ? *sink : *src;
  const BackendSpec& near = dir == Direction::forward ? *src : *sink;
  json& far_obj = dir == Direction::forward ? sink_obj : source;
  json& near_obj = dir == Direction::forward ? source : sink_obj;

  auto prefixes = [](const BackendSpec& s) {
    std::vector<std::string> p;
    for (auto x : util::split_list(s.flat_prefixes)) p.emplace_back(x);
    std::string dflt(s.name);
    std::replace(dflt.begin(), dflt.end(), '-', '_');
    p.push_back(dflt + "_");
    return p;
  };
  auto place_prefixed = [&](const BackendSpec& s, json& obj, const std::string& key, const json& v) {
    for (const auto& p : prefixes(s)) {
      if (util::starts_with(key, p) && spec_has(s, key.substr(p.size()))) {
        obj[key.substr(p.size())] = v;
        return true;
      }
    }
    return false;
  };

  for (auto it = in.begin(); it != in.end(); ++it) {
    const std::string& key = it.key();
    if (key == "source_type" || key == "sink_type") continue;
    const json& v = it.value();
    // A key both a pipeline option and a far-side key ("format": "csv" for a file sink) goes to the
    // side whose allowed values include it.
    auto allows = [&](const BackendSpec& s) {
      const KeySpec* k = find_key(s, key);
      return k && v.is_string() && (k->allowed.empty() || util::list_contains(k->allowed, v.get<std::string>()));
    };
    if (spec_has(kPipelineSpec, key) && !(spec_has(far, key) && allows(far) && !allows(kPipelineSpec))) out[key] = v;
    else if (place_prefixed(far, far_obj, key, v) || place_prefixed(near, near_obj, key, v)) continue;
    else if (spec_has(far, key) || util::starts_with(key, "rdkafka.")) far_obj[key] = v;
    else if (spec_has(near, key)) near_obj[key] = v;
    else {
      std::vector<std::string> candidates = key_names(kPipelineSpec);
      for (const auto& p : prefixes(far))
        for (auto& k : key_names(far, p)) candidates.push_back(k);
      for (auto& k : key_names(far)) candidates.push_back(k);
      for (auto& k : key_names(near)) candidates.push_back(k);
      auto suggestion = util::did_you_mean(key, candidates);
      problems.push_back(fmt::format("{}: unknown key \"{}\"{} for a {} pipeline from {} to {}", where, key,
                                     suggestion.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", suggestion),
                                     to_string(dir), src->name, sink->name));
    }
  }
  out["source"] = std::move(source);
  out["sink"] = std::move(sink_obj);
  return out;
}

// The topic route.topic.replacement names for a row, as a template of the relay's own:
// "outbox.event.${routedByValue}" with route.by.field aggregatetype is
// "outbox.event.{{ aggregatetype }}". Empty, with `error`, for a replacement that refers to a group
// the default route.topic.regex does not have.
std::string router_topic_template(const debezium::RouterOptions& options, std::string& error) {
  // The default route.topic.regex "(?<routedByValue>.*)" captures the whole value: ${routedByValue},
  // $1 and $0 all stand for it.
  const std::string column = "{{ " + options.route_by + " }}";
  const std::string& r = options.topic_replacement;
  std::string out;
  for (std::size_t i = 0; i < r.size(); ++i) {
    if (r[i] == '\\' && i + 1 < r.size()) {
      out += r[++i];
    } else if (r[i] == '$' && i + 1 < r.size() && r[i + 1] == '{') {
      auto close = r.find('}', i);
      std::string group = close == std::string::npos ? "" : r.substr(i + 2, close - i - 2);
      if (group != "routedByValue") {
        error = fmt::format("\"route.topic.replacement\" refers to the group \"{}\", which route.topic.regex "
                            "\"(?<routedByValue>.*)\" does not have: write ${{routedByValue}} for the value of {}",
                            group, options.route_by);
        return {};
      }
      out += column;
      i = close;
    } else if (r[i] == '$' && i + 1 < r.size() && (r[i + 1] == '0' || r[i + 1] == '1')) {
      out += column;
      ++i;
    } else if (r[i] == '$') {
      error = fmt::format("\"route.topic.replacement\" \"{}\": a '$' starts ${{routedByValue}} (or $1); write \\$ for a "
                          "dollar sign", r);
      return {};
    } else {
      out += r[i];
    }
  }
  return out;
}


// The settings of Debezium's outbox event router, under its names: each key as a connector's
// properties write it, with or without its "transforms.<name>." prefix; values strings (as
// properties are) or JSON booleans.
void read_router_options(const json& given, const std::string& name, debezium::RouterOptions& r, std::vector<std::string>& problems) {
  if (!given.is_object()) {
    problems.push_back(fmt::format("pipeline \"{}\": \"outbox_event_router\" must be an object of the router's settings, e.g. "
                                   "{{\"route.by.field\": \"aggregatetype\"}}", name));
    return;
  }
  using Placement = debezium::RouterOptions::Placement;
  auto problem = [&](const std::string& key, const std::string& what) {
    problems.push_back(fmt::format("pipeline \"{}\": outbox_event_router \"{}\": {}", name, key, what));
  };
  for (auto it = given.begin(); it != given.end(); ++it) {
    std::string key = it.key();
    if (key.starts_with("transforms.")) {  // transforms.<name>.<setting>
      auto dot = key.find('.', std::string_view("transforms.").size());
      if (dot != std::string::npos) key = key.substr(dot + 1);
    }
    const json& v = it.value();
    std::string text = v.is_string() ? v.get<std::string>() : v.is_boolean() ? (v.get<bool>() ? "true" : "false") : "";
    if (!v.is_string() && !v.is_boolean()) {
      problem(it.key(), "must be a string (as a connector's properties write it)");
      continue;
    }
    auto flag = [&](bool& out) {
      if (text == "true" || text == "false") out = text == "true";
      else problem(it.key(), fmt::format("must be true or false, got \"{}\"", text));
    };
    auto column = [&](std::string& out) {
      if (text.empty()) problem(it.key(), "must name a column of the outbox table");
      else out = text;
    };
    if (key == "table.field.event.id") column(r.event_id);
    else if (key == "table.field.event.key") column(r.event_key);
    else if (key == "table.field.event.payload") column(r.payload);
    else if (key == "route.by.field") column(r.route_by);
    else if (key == "table.field.event.type" || key == "type") continue;  // Debezium reads no column by it either
    else if (key == "route.topic.replacement") r.topic_replacement = text;
    else if (key == "route.topic.regex") {
      if (text != "(?<routedByValue>.*)")
        problem(it.key(), "only the default \"(?<routedByValue>.*)\" is read; name the topic with route.topic.replacement over "
                          "route.by.field, or with the sink's \"topic\" as a template of the row's columns, e.g. "
                          "\"events.{{ aggregatetype }}\"");
    } else if (key == "table.fields.additional.placement") {
      r.additional.clear();
      for (auto part : util::split_list(text, ',')) {
        std::vector<std::string> bits;
        for (auto b : util::split_list(part, ':')) {
          std::string s(b);
          s.erase(0, s.find_first_not_of(' '));
          s.erase(s.find_last_not_of(' ') + 1);
          bits.push_back(s);
        }
        if (bits.size() < 2 || bits.size() > 3 || bits[0].empty() || (bits[1] != "header" && bits[1] != "envelope") ||
            (bits.size() == 3 && bits[2].empty())) {
          problem(it.key(), fmt::format("\"{}\": each entry is column:placement[:alias], placement header or envelope (the "
                                        "partition placement is not offered: the relay partitions by the key)", std::string(part)));
          continue;
        }
        r.additional.push_back({bits[0], bits[1] == "header" ? Placement::header : Placement::envelope,
                                bits.size() == 3 ? bits[2] : bits[0]});
      }
    } else if (key == "table.field.additional.missing") {
      if (text == "error" || text == "ignore") r.ignore_missing_additional = text == "ignore";
      else problem(it.key(), fmt::format("must be error or ignore, got \"{}\"", text));
    } else if (key == "table.expand.json.payload") flag(r.expand_json);
    else if (key == "table.json.payload.null.behavior") {
      if (text == "ignore" || text == "optional_bytes") r.null_as_bytes = text == "optional_bytes";
      else problem(it.key(), fmt::format("must be ignore or optional_bytes, got \"{}\"", text));
    } else if (key == "table.json.payload.empty.array.behavior") {
      if (text == "ignore" || text == "optional_string") r.empty_array_as_strings = text == "optional_string";
      else problem(it.key(), fmt::format("must be ignore or optional_string, got \"{}\"", text));
    } else if (key == "table.op.invalid.behavior") {
      using OnUpdate = debezium::RouterOptions::OnUpdate;
      if (text == "warn") r.on_update = OnUpdate::warn;
      else if (text == "error") r.on_update = OnUpdate::error;
      else if (text == "fatal") r.on_update = OnUpdate::fatal;
      else problem(it.key(), fmt::format("must be warn, error or fatal, got \"{}\"", text));
    } else if (key == "route.tombstone.on.empty.payload") {
      if (text != "false")
        problem(it.key(), "only false is offered: a row with an empty payload is sent with that payload");
    } else if (key == "table.field.event.timestamp" || key == "table.field.event.schema.version") {
      problem(it.key(), "is not offered: the relay's records carry the commit time, and the value schema has no version");
    } else {
      problem(it.key(), "is none of the router's settings: table.field.event.id, table.field.event.key, "
                        "table.field.event.payload, route.by.field, route.topic.replacement, "
                        "table.fields.additional.placement, table.field.additional.missing, table.expand.json.payload, "
                        "table.json.payload.null.behavior, table.json.payload.empty.array.behavior, table.op.invalid.behavior");
    }
  }
}

}  // namespace

const char* to_string(Direction d) { return d == Direction::forward ? "forward" : "reverse"; }

json normalize_pipeline(Direction dir, const json& input, const std::string& name, std::vector<std::string>& problems) {
  std::string where = fmt::format("pipeline \"{}\"", name);
  if (!input.is_object()) {
    problems.push_back(fmt::format("{}: the config must be a JSON object, got {}", where, input.dump()));
    return json();
  }
  json nested;
  bool has_nested = (input.contains("source") && input["source"].is_object()) ||
                    (input.contains("sink") && input["sink"].is_object());
  if (has_nested) {
    nested = input;
    // pg_trickle's stored layout keeps the types beside the sections.
    // A section that is not an object is reported below, as it is.
    if (nested.contains("source_type")) {
      if (!nested.contains("source")) nested["source"] = json::object();
      if (nested["source"].is_object() && !nested["source"].contains("type")) nested["source"]["type"] = nested["source_type"];
      nested.erase("source_type");
    }
    if (nested.contains("sink_type")) {
      if (!nested.contains("sink")) nested["sink"] = json::object();
      if (nested["sink"].is_object() && !nested["sink"].contains("type")) nested["sink"]["type"] = nested["sink_type"];
      nested.erase("sink_type");
    }
    if (!nested.contains("source") && dir == Direction::forward) nested["source"] = {{"type", "outbox"}};
    if (!nested.contains("sink") && dir == Direction::reverse) nested["sink"] = {{"type", "pg-inbox"}};
  } else {
    nested = flat_to_nested(dir, input, where, problems);
    if (nested.is_null()) return json();
  }

  json out = json::object();
  const BackendSpec* src = nullptr;
  const BackendSpec* sink = nullptr;
  if (!nested.contains("source") || !nested["source"].is_object())
    problems.push_back(fmt::format("{}: \"source\" must be an object with a \"type\"", where));
  else
    src = resolve_type(Role::source, nested["source"].value("type", json()), where + " source", "type", problems);
  if (!nested.contains("sink") || !nested["sink"].is_object())
    problems.push_back(fmt::format("{}: \"sink\" must be an object with a \"type\"", where));
  else
    sink = resolve_type(Role::sink, nested["sink"].value("type", json()), where + " sink", "type", problems);

  if (src && dir == Direction::forward && !is_forward_source(src->name))
    problems.push_back(fmt::format("{}: a forward pipeline (set_relay_outbox) reads an outbox, a pgstream stream or tables from the WAL, not \"{}\"; use "
                                   "set_relay_inbox for {} → inbox", where, src->name, src->name));
  if (src && dir == Direction::reverse && is_forward_source(src->name))
    problems.push_back(fmt::format("{}: a reverse pipeline (set_relay_inbox) fills an inbox from a broker, not from \"{}\"; use "
                                   "set_relay_outbox for {} → sink", where, src->name, src->name));
  if (sink && dir == Direction::reverse && sink->name != "pg-inbox")
    problems.push_back(fmt::format("{}: a reverse pipeline (set_relay_inbox) writes an inbox, not \"{}\"; use set_relay_outbox for outbox → {}",
                                   where, sink->name, sink->name));

  json options = json::object();
  for (auto it = nested.begin(); it != nested.end(); ++it)
    if (it.key() != "source" && it.key() != "sink") options[it.key()] = it.value();
  out = check_section(kPipelineSpec, options, where, problems);
  if (src) {
    out["source"] = check_section(*src, nested["source"], fmt::format("{} source \"{}\"", where, src->name), problems);
    out["source"]["type"] = src->name;
  }
  if (sink && sink->name == "kafka" && options.value("format", json()) == "debezium" && nested["sink"].is_object() &&
      !nested["sink"].contains("topic") && !nested["sink"].contains("topic_template")) {
    // Debezium's topic naming: <topic.prefix>.<schema>.<table>.
    json prefix = options.value("topic_prefix", json(name));
    if (prefix.is_string()) nested["sink"]["topic"] = prefix.get<std::string>() + ".{schema}.{table}";
  }
  if (sink && sink->name == "kafka" && options.value("format", json()) == "outbox_event_router" && nested["sink"].is_object() &&
      !nested["sink"].contains("topic") && !nested["sink"].contains("topic_template")) {
    // The router's topic: route.topic.replacement over route.by.field (other problems of its
    // settings are named when they are read).
    debezium::RouterOptions router;
    std::vector<std::string> ignored;
    read_router_options(options.value("outbox_event_router", json::object()), name, router, ignored);
    std::string error;
    std::string topic = router_topic_template(router, error);
    if (!error.empty()) problems.push_back(fmt::format("{}: {}", where, error));
    else nested["sink"]["topic"] = topic;
  }
  if (sink) {
    out["sink"] = check_section(*sink, nested["sink"], fmt::format("{} sink \"{}\"", where, sink->name), problems);
    out["sink"]["type"] = sink->name;
  }
  if (out.contains("key") && out["key"].is_string()) {
    auto t = Template::compile(out["key"].get<std::string>());
    if (!t) problems.push_back(fmt::format("{}: key \"key\": {}", where, t.error().message));
  }
  return out;
}

namespace {

// A Debezium list of regular expressions (column.propagate.source.type): comma-separated, a comma
// inside one written "\\,"; each must compile.
std::vector<std::string> regex_list(const json& o, const char* key, const std::string& pipeline, std::vector<std::string>& problems) {
  std::vector<std::string> out;
  const std::string text = o.value(key, "");
  std::string current;
  auto flush = [&] {
    current.erase(0, current.find_first_not_of(' '));
    current.erase(current.find_last_not_of(' ') + 1);
    if (!current.empty()) out.push_back(current);
    current.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == ',') {
      current += ',';
      ++i;
    } else if (text[i] == ',') {
      flush();
    } else {
      current += text[i];
    }
  }
  flush();
  for (const auto& pattern : out) {
    try {
      std::regex compiled(pattern, std::regex::ECMAScript | std::regex::icase);
    } catch (const std::regex_error& e) {
      problems.push_back(fmt::format("pipeline \"{}\": \"{}\" lists regular expressions matched whole against "
                                     "\"<schema>.<table>.<column>\" (or \"<schema>.<table>.<type>\"), comma-separated; "
                                     "\"{}\" is none: {}", pipeline, key, pattern, e.what()));
    }
  }
  return out;
}

// Debezium's records beside the change events, from a WAL pipeline to Kafka: heartbeats on
// <topic_heartbeat_prefix>.<topic_prefix> every heartbeat_interval_ms, and with
// provide_transaction_metadata each transaction's BEGIN and END on <topic_prefix>.<topic_transaction>.
void read_side_topics(PipelineConfig& c, std::vector<std::string>& problems) {
  const json& o = c.canonical;
  DebeziumOptions& d = c.debezium;
  d.transaction_metadata = o.value("provide_transaction_metadata", false);
  const std::string transaction = o.value("topic_transaction", "transaction");
  if (transaction.empty())
    problems.push_back(fmt::format("pipeline \"{}\": \"topic_transaction\" must not be empty (it ends the transaction "
                                   "topic's name, <topic_prefix>.<topic_transaction>)", c.name));
  d.transaction_topic = d.topic_prefix + "." + transaction;
  if (d.transaction_metadata && (c.source_type != "wal" || c.sink_type != "kafka"))
    problems.push_back(fmt::format("pipeline \"{}\": \"provide_transaction_metadata\" sends each transaction's BEGIN and END "
                                   "to the Kafka topic {} and places each change in its transaction, which the WAL tells: "
                                   "it needs source type \"wal\" and a kafka sink, got {} and {}",
                                   c.name, d.transaction_topic, c.source_type, c.sink_type));
  if (o.contains("heartbeat_action_query"))
    problems.push_back(fmt::format(
        "pipeline \"{}\": \"heartbeat_action_query\" is not offered: the relay confirms the server's WAL position "
        "itself while the pipeline's tables are idle, so its slot never holds WAL back for want of a write; a heartbeat "
        "row some consumer expects is best written by the database on a schedule (pg_cron), with its owner's rights",
        c.name));
  d.heartbeat_interval_ms = o.value("heartbeat_interval_ms", 0);
  const std::string prefix = o.value("topic_heartbeat_prefix", "__debezium-heartbeat");
  if (prefix.empty())
    problems.push_back(fmt::format("pipeline \"{}\": \"topic_heartbeat_prefix\" must not be empty (it begins the "
                                   "heartbeat topic's name, <topic_heartbeat_prefix>.<topic_prefix>)", c.name));
  d.heartbeat_topic = prefix + "." + d.topic_prefix;
  if (d.heartbeat_interval_ms == 0) return;
  if (c.source_type != "wal" || c.sink_type != "kafka")
    problems.push_back(fmt::format("pipeline \"{}\": \"heartbeat_interval_ms\" sends Debezium's heartbeats to the Kafka "
                                   "topic {}: it needs source type \"wal\" and a kafka sink, got {} and {}",
                                   c.name, d.heartbeat_topic, c.source_type, c.sink_type));
}

// The options of format "debezium", refused with any other format (where they would do nothing).
void read_debezium_options(PipelineConfig& c, std::vector<std::string>& problems) {
  const json& o = c.canonical;
  static constexpr const char* kKeys[] = {"topic_prefix", "schemas", "tombstones", "skipped_operations", "decimal_handling",
                                          "time_precision", "binary_handling", "interval_handling", "hstore_handling",
                                          "column_propagate_source_type", "datatype_propagate_source_type",
                                          "include_unknown_datatypes", "heartbeat_interval_ms", "topic_heartbeat_prefix",
                                          "heartbeat_action_query", "provide_transaction_metadata", "topic_transaction"};
  if (o.contains("outbox_event_router") && c.format != Format::outbox_event_router)
    problems.push_back(fmt::format("pipeline \"{}\": \"outbox_event_router\" holds the settings of Debezium's outbox event "
                                   "router: it needs \"format\": \"outbox_event_router\"", c.name));
  if (!debezium_family(c.format)) {
    for (const char* k : kKeys)
      if (o.contains(k))
        problems.push_back(fmt::format("pipeline \"{}\": \"{}\" shapes Debezium's change events: it needs \"format\": \"debezium\"",
                                       c.name, k));
    return;
  }
  const std::string format = c.format == Format::debezium ? "debezium" : "outbox_event_router";
  if (c.direction != Direction::forward) {
    problems.push_back(fmt::format("pipeline \"{}\": \"format\": \"{}\" describes row changes a forward pipeline sends; "
                                   "a reverse pipeline stores what it receives as it is", c.name, format));
    return;
  }
  if (c.granularity != Granularity::row)
    problems.push_back(fmt::format("pipeline \"{}\": \"format\": \"{}\" sends one record per row: it needs "
                                   "\"granularity\": \"row\", got \"delta\"", c.name, format));
  if (c.source_type == "pgstream")
    problems.push_back(fmt::format("pipeline \"{}\": a pgstream stream sends the events its subscriptions define, not row "
                                   "changes: use \"format\": \"json\" or \"cloudevents\" for it", c.name));
  DebeziumOptions& d = c.debezium;
  if (c.format == Format::outbox_event_router) {
    for (const char* k : {"tombstones", "skipped_operations", "column_propagate_source_type", "datatype_propagate_source_type",
                          "include_unknown_datatypes", "heartbeat_interval_ms", "topic_heartbeat_prefix", "heartbeat_action_query",
                          "provide_transaction_metadata", "topic_transaction"})
      if (o.contains(k))
        problems.push_back(fmt::format("pipeline \"{}\": \"{}\" shapes Debezium's change events; the outbox event router sends "
                                       "only inserted rows' payloads, and no tombstones", c.name, k));
    read_router_options(o.value("outbox_event_router", json::object()), c.name, d.router, problems);
    if (c.sink_type != "kafka" && o.contains("outbox_event_router") &&
        (o["outbox_event_router"].contains("route.topic.replacement") || o["outbox_event_router"].contains("route.by.field")))
      problems.push_back(fmt::format("pipeline \"{}\": route.topic.replacement and route.by.field name a Kafka sink's topic; a "
                                     "{} sink routes by its own template of the row's columns, e.g. \"outbox.event.{{{{ aggregatetype }}}}\"",
                                     c.name, c.sink_type));
  }
  d.topic_prefix = o.value("topic_prefix", c.name);
  if (d.topic_prefix.empty())
    problems.push_back(fmt::format("pipeline \"{}\": \"topic_prefix\" must not be empty (it names the events' source)", c.name));
  d.schemas = o.value("schemas", false);
  d.tombstones = o.value("tombstones", true);
  // Debezium's skipped.operations: "c,u,d,t" letters, or "none".
  const std::string skipped = o.value("skipped_operations", "t");
  d.skipped.clear();
  if (skipped != "none") {
    std::size_t pos = 0;
    while (pos <= skipped.size()) {
      std::size_t comma = std::min(skipped.find(',', pos), skipped.size());
      std::string op = skipped.substr(pos, comma - pos);
      op.erase(0, op.find_first_not_of(' '));
      op.erase(op.find_last_not_of(' ') + 1);
      if (op.size() == 1 && std::string_view("cudt").find(op[0]) != std::string_view::npos) {
        d.skipped += op;
      } else {
        problems.push_back(fmt::format("pipeline \"{}\": \"skipped_operations\" lists operations not sent, comma-separated, "
                                       "of c (create), u (update), d (delete) and t (truncate), or is \"none\"; got \"{}\"",
                                       c.name, skipped));
        break;
      }
      pos = comma + 1;
    }
  }
  const std::string decimal = o.value("decimal_handling", "precise"), time = o.value("time_precision", "adaptive"),
                    binary = o.value("binary_handling", "bytes"), interval = o.value("interval_handling", "numeric");
  using namespace debezium;
  d.modes.decimal = decimal == "double" ? DecimalHandling::double_ : decimal == "string" ? DecimalHandling::string : DecimalHandling::precise;
  d.modes.time = time == "connect" ? TimePrecision::connect
                 : time == "adaptive_time_microseconds" ? TimePrecision::adaptive_time_microseconds : TimePrecision::adaptive;
  d.modes.binary = binary == "base64" ? BinaryHandling::base64 : binary == "base64-url-safe" ? BinaryHandling::base64_url_safe
                   : binary == "hex" ? BinaryHandling::hex : BinaryHandling::bytes;
  d.modes.interval = interval == "string" ? IntervalHandling::string : IntervalHandling::numeric;
  d.modes.hstore = o.value("hstore_handling", "json") == "map" ? HStoreHandling::map : HStoreHandling::json;
  d.modes.include_unknown = o.value("include_unknown_datatypes", false);
  read_side_topics(c, problems);
  d.propagate.columns = regex_list(o, "column_propagate_source_type", c.name, problems);
  d.propagate.datatypes = regex_list(o, "datatype_propagate_source_type", c.name, problems);
}

// The converters of a Kafka sink or source (backends/kafka/schema_registry_spec.h): Avro needs a
// registry, and a sink a Debezium format, whose envelope has the schema to register; the registry's
// keys need Avro.
void read_converters(PipelineConfig& c, const std::string& place, std::vector<std::string>& problems) {
  const json& side = c.canonical[place];
  Converters& v = c.converters;
  const std::string value = side.value("value_converter", "json");
  v.avro_value = value == "avro";
  v.avro_key = side.value("key_converter", value) == "avro";
  v.json_schemas = c.debezium.schemas;
  if (!v.any_avro()) {
    for (const char* k : {"schema_registry_url", "schema_registry_username", "schema_registry_password", "schema_registry_tls_ca",
                          "schema_registry_tls_cert", "schema_registry_tls_key", "subject_name_strategy", "schema_unavailable"})
      if (side.contains(k))
        problems.push_back(fmt::format("pipeline \"{}\": {} \"kafka\": \"{}\" is for the avro converter: set "
                                       "\"value_converter\": \"avro\" (or \"key_converter\") to use it", c.name, place, k));
    return;
  }
  const char* which = v.avro_value ? "value_converter" : "key_converter";
  if (place == "sink" && !debezium_family(c.format))
    problems.push_back(fmt::format("pipeline \"{}\": sink \"kafka\": \"{}\": \"avro\" writes Debezium's events as Kafka Connect's "
                                   "Avro converter does, from their schemas: it needs \"format\": \"debezium\" or "
                                   "\"outbox_event_router\", got \"{}\"", c.name, which, c.canonical.value("format", "json")));
  if (!side.contains("schema_registry_url"))
    problems.push_back(fmt::format("pipeline \"{}\": {} \"kafka\": \"{}\": \"avro\" {} each record's schema: it needs "
                                   "\"schema_registry_url\" (e.g. \"http://registry:8081\", or Apicurio Registry's "
                                   "\"http://registry:8080/apis/ccompat/v7\")",
                                   c.name, place, which, place == "sink" ? "registers" : "reads"));
  if (place == "sink") c.debezium.schemas = true;
}

// "delivery": "exactly_once" commits the batch and the position in one Kafka transaction: it needs
// a Kafka sink writing with acks=all, and a source whose position the relay keeps in PostgreSQL.
void check_exactly_once(const PipelineConfig& c, std::vector<std::string>& problems) {
  const json& o = c.canonical;
  if (c.direction != Direction::forward || c.sink_type != "kafka" ||
      (c.source_type != "outbox" && c.source_type != "wal" && c.source_type != "pgstream")) {
    problems.push_back(fmt::format("pipeline \"{}\": \"delivery\": \"exactly_once\" commits each batch into Kafka together with "
                                   "the pipeline's position, so it needs a \"kafka\" sink and a source of type \"outbox\", \"wal\" or "
                                   "\"pgstream\" (got source \"{}\", sink \"{}\"); other targets deduplicate by the messages' dedup "
                                   "identity: use \"delivery\": \"at_least_once\"", c.name, c.source_type, c.sink_type));
    return;
  }
  const json& sink = o["sink"];
  if (sink.value("acks", "all") != "all")
    problems.push_back(fmt::format("pipeline \"{}\": \"delivery\": \"exactly_once\" writes with Kafka's transactional producer, "
                                   "which needs \"acks\": \"all\" (got \"{}\")", c.name, sink.value("acks", "all")));
  if (sink.contains("rdkafka") && sink["rdkafka"].is_object())
    for (const char* k : {"transactional.id", "enable.idempotence"})
      if (sink["rdkafka"].contains(k))
        problems.push_back(fmt::format("pipeline \"{}\": \"delivery\": \"exactly_once\" sets \"rdkafka.{}\" itself (the "
                                       "transactional id is pgtrickle-relay-<database>-<relay group>-<pipeline>, so that a new owner fences "
                                       "the old one): remove this key", c.name, k));
}

}  // namespace

PipelineConfig build_pipeline_config(const std::string& name, Direction direction, bool enabled, const json& input,
                                     std::string origin, std::vector<std::string>& problems) {
  PipelineConfig c;
  c.name = name;
  c.direction = direction;
  c.origin = std::move(origin);
  size_t before = problems.size();
  if (name.empty()) problems.push_back("a pipeline needs a non-empty name");
  c.canonical = normalize_pipeline(direction, input, name, problems);
  if (problems.size() != before) return c;
  const json& o = c.canonical;
  c.enabled = enabled && o.value("enabled", true);
  c.source_type = o["source"]["type"].get<std::string>();
  c.sink_type = o["sink"]["type"].get<std::string>();
  auto int_opt = [&](const char* k, int dflt) { return o.contains(k) && o[k].is_number() ? o[k].get<int>() : dflt; };
  c.batch_size = int_opt("batch_size", 1000);
  c.poll_interval_ms = int_opt("poll_interval_ms", 1000);
  c.retry_initial_ms = int_opt("retry_initial_ms", 100);
  c.retry_max_ms = int_opt("retry_max_ms", 30000);
  c.granularity = o.value("granularity", "row") == "delta" ? Granularity::delta : Granularity::row;
  const std::string format = o.value("format", "json");
  c.format = format == "cloudevents"           ? Format::cloudevents
             : format == "debezium"            ? Format::debezium
             : format == "outbox_event_router" ? Format::outbox_event_router
                                               : Format::json;
  read_debezium_options(c, problems);
  if (c.sink_type == "kafka") read_converters(c, "sink", problems);
  if (c.source_type == "kafka") read_converters(c, "source", problems);
  c.cloudevents_binary = o.value("cloudevents_mode", "structured") == "binary";
  if (o.contains("cloudevents_mode") && c.format != Format::cloudevents)
    problems.push_back(fmt::format("pipeline \"{}\": \"cloudevents_mode\" says how CloudEvents travel: it needs \"format\": "
                                   "\"cloudevents\"", name));
  if (c.cloudevents_binary && c.sink_type == "webhook" && o["sink"].value("batch", false))
    problems.push_back(fmt::format("pipeline \"{}\": \"cloudevents_mode\": \"binary\" puts each event's attributes in the "
                                   "headers of its own request, and a batched request carries many events: use \"cloudevents_mode\": "
                                   "\"structured\" with \"batch\": true, or \"batch\": false", name));
  c.dead_letter = o.value("dead_letter", true);
  c.exactly_once = o.value("delivery", "at_least_once") == "exactly_once";
  if (c.exactly_once) check_exactly_once(c, problems);
  // A transaction's commit costs about 10 ms whatever it holds: larger batches make a backlog
  // drain in fewer of them (a trickle still goes a few rows at a time).
  // (Asked of the config as written: the canonical one has every default filled in.)
  if (c.exactly_once && !(input.is_object() && input.contains("batch_size"))) c.batch_size = PipelineConfig::kExactlyOnceBatchSize;
  else if (c.sink_type == "kafka" && o["sink"].contains("positions_topic"))
    problems.push_back(fmt::format("pipeline \"{}\": sink \"kafka\": \"positions_topic\" is where \"delivery\": \"exactly_once\" "
                                   "commits the pipeline's position: set \"delivery\": \"exactly_once\" to use it, or remove it", name));
  c.backfill_initial = o.value("backfill", "none") == "initial";
  c.backfill_chunk_rows = int_opt("backfill_chunk_rows", 10000);
  c.rebuild_lost_slot = o.value("on_slot_lost", "fail") == "rebuild";
  if (c.rebuild_lost_slot && (direction != Direction::forward || (c.source_type != "outbox" && c.source_type != "wal")))
    problems.push_back(fmt::format("pipeline \"{}\": \"on_slot_lost\" says what to do when the server invalidates the pipeline's "
                                   "replication slot, so only a forward pipeline reading tables (source type \"outbox\" of a table "
                                   "captured from the WAL, or \"wal\") takes it", name));
  if (c.backfill_initial && (direction != Direction::forward || (c.source_type != "outbox" && c.source_type != "wal")))
    problems.push_back(fmt::format("pipeline \"{}\": \"backfill\": \"initial\" sends a table's existing rows, so only a forward "
                                   "pipeline reading tables (source type \"outbox\" or \"wal\") takes it{}", name,
                                   c.source_type == "pgstream" ? "; a pgstream pipeline starting with no stored position already "
                                                                 "sends every event its stream still holds" : ""));
  // pg_trickle's set_relay_outbox stores its p_group as the outbox source's "group".
  std::string source_group = c.source_type == "outbox" ? o["source"].value("group", "") : "";
  c.relay_group = o.value("relay_group", source_group);
  if (o.contains("relay_group") && c.relay_group.empty())
    problems.push_back(fmt::format("pipeline \"{}\": relay_group must name a relay group (or be left out: any relay group may run it)", name));
  if (!source_group.empty() && c.relay_group != source_group)
    problems.push_back(fmt::format("pipeline \"{}\": relay_group \"{}\" and source group \"{}\" disagree; the source's \"group\" "
                                   "is the relay group too (pg_trickle's p_group): keep one of them",
                                   name, c.relay_group, source_group));
  if (o.contains("key")) {
    if (o["key"].is_array()) {
      for (const auto& k : o["key"]) c.key_columns.push_back(k.get<std::string>());
    } else {
      std::string k = o["key"].get<std::string>();
      if (k.find('{') != std::string::npos) c.key_template = k;
      else
        for (auto part : util::split_list(k, ',')) {
          std::string s(part);
          s.erase(0, s.find_first_not_of(' '));
          s.erase(s.find_last_not_of(' ') + 1);
          if (!s.empty()) c.key_columns.push_back(s);
        }
    }
  }
  return c;
}

}  // namespace relay
