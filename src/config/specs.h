// Every backend's config spec, declared here from the list (config/backend_list.h) and defined in
// the backend's own folder (src/backends/<name>/*_spec.cpp). Pure data: the validator, the SQL rows and
// the docs read it whether or not the backend is compiled into this binary.
#pragma once

#include <span>
#include <string>
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
// What the value of `key` of `spec` becomes the name of, for all to see (a table in pg_class, a
// slot in pg_replication_slots, a stream or a consumer group on a broker): "a table", "a
// consumer group"; empty for any other key. Such a value is written literally: a reference there
// would publish the secret it resolves to under that name.
std::string_view named_object(const BackendSpec& spec, std::string_view key);
// The sentence refusing a reference in such a key.
std::string reference_in_name_problem(std::string_view key, std::string_view named);

// Whether a source of this type feeds a forward pipeline (rows of PostgreSQL out to a sink): an
// outbox, or a stream of pgstream.subscriptions. Every other source fills an inbox.
bool is_forward_source(std::string_view type);

}  // namespace relay
