// What the core needs to know of a backend: its spec and its factories. The table itself is the
// backends' (src/backends/registry.cpp); the app hands it to the core through RelayContext, so the
// core never includes a backend.
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
  SourceFactory make_source = nullptr;  // null when not built
  SinkFactory make_sink = nullptr;
  bool available() const { return make_source || make_sink; }
};

// The entry of a type name or alias ("inbox" → pg-inbox); null when unknown.
const BackendEntry* find_backend(std::span<const BackendEntry> backends, Role role, std::string_view type);

}  // namespace relay
