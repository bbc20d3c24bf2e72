// Every backend's config spec, declared here from the list (config/backend_list.h) and defined in
// the backend's own folder (src/backends/<name>/*_spec.cpp). Pure data: the validator, the SQL rows and
// the docs read it whether or not the backend is compiled into this binary.
#pragma once

#include <span>
#include <string_view>

#include "config/backend_list.h"
#include "relay/config_spec.h"

namespace relay {

extern const BackendSpec kPipelineSpec;

#define RELAY_DECLARE_SPEC(spec, role, flag, factory) extern const BackendSpec spec;
RELAY_BACKEND_LIST(RELAY_DECLARE_SPEC)
#undef RELAY_DECLARE_SPEC

// Every source and sink spec, in the order of the docs and the SQL catalog.
std::span<const BackendSpec* const> backend_specs();
// Finds a spec by type name or alias ("inbox" → pg-inbox); null when unknown.
const BackendSpec* find_spec(Role role, std::string_view type);
// Whether a source of this type feeds a forward pipeline (rows of PostgreSQL out to a sink): an
// outbox, or a stream of pgstream.subscriptions. Every other source fills an inbox.
bool is_forward_source(std::string_view type);

}  // namespace relay
