// The compiled-in backends, listed explicitly in registry.cpp (no self-registering statics).
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "relay/config_spec.h"
#include "relay/sink.h"
#include "relay/source.h"

namespace relay {

struct PipelineConfig;
struct BuildContext;

using SourceFactory = Result<std::unique_ptr<Source>> (*)(const PipelineConfig&, const BuildContext&);
using SinkFactory = Result<std::unique_ptr<Sink>> (*)(const PipelineConfig&, const BuildContext&);

struct BackendEntry {
  const BackendSpec* spec;
  SourceFactory make_source = nullptr;  // null when not built or not implemented yet
  SinkFactory make_sink = nullptr;
  bool available() const { return make_source || make_sink; }
};

std::span<const BackendEntry> backends();
// Finds a backend by name or type alias ("inbox" → pg-inbox); null when unknown.
const BackendEntry* find_backend(Role role, std::string_view type);

}  // namespace relay
