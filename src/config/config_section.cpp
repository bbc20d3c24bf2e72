#include "config/config_section.h"

#include <fmt/format.h>

#include <stdexcept>

#include "config/pipeline_config.h"
#include "config/specs.h"

namespace relay {

namespace {
const nlohmann::json kNull;
}  // namespace

ConfigSection::ConfigSection(const BackendSpec& spec, const nlohmann::json& section) : spec_(&spec), section_(&section) {}

const KeySpec& ConfigSection::declared(std::string_view key) const {
  for (const auto& k : spec_->keys)
    if (k.key == key) return k;
  throw std::logic_error(fmt::format("the {} {} reads key \"{}\", which its spec does not declare", spec_->name,
                                     to_string(spec_->role), key));
}

const nlohmann::json& ConfigSection::value(std::string_view key) const {
  const KeySpec& k = declared(key);
  if (section_->is_object()) {
    auto it = section_->find(key);
    if (it != section_->end() && !it->is_null()) return *it;
  }
  if (k.default_json.empty()) return kNull;
  std::string name(key);
  auto it = defaults_.find(name);
  if (it == defaults_.end()) it = defaults_.emplace(name, nlohmann::json::parse(k.default_json)).first;
  return *it;
}

std::string ConfigSection::text(std::string_view key) const {
  const auto& v = value(key);
  if (v.is_null()) return {};
  return v.is_string() ? v.get<std::string>() : v.dump();
}

long long ConfigSection::integer(std::string_view key) const {
  const auto& v = value(key);
  return v.is_number() ? v.get<long long>() : 0;
}

double ConfigSection::number(std::string_view key) const {
  const auto& v = value(key);
  return v.is_number() ? v.get<double>() : 0.0;
}

bool ConfigSection::flag(std::string_view key) const {
  const auto& v = value(key);
  return v.is_boolean() && v.get<bool>();
}

ConfigSection PipelineConfig::source_section() const {
  const BackendSpec* spec = find_spec(Role::source, source_type);
  if (!spec) throw std::logic_error(fmt::format("pipeline \"{}\": no spec for source type \"{}\"", name, source_type));
  return ConfigSection(*spec, source());
}

ConfigSection PipelineConfig::sink_section() const {
  const BackendSpec* spec = find_spec(Role::sink, sink_type);
  if (!spec) throw std::logic_error(fmt::format("pipeline \"{}\": no spec for sink type \"{}\"", name, sink_type));
  return ConfigSection(*spec, sink());
}

}  // namespace relay
