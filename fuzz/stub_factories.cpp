// The always-built factories the registry lists. The fuzz targets only validate configs, so nothing
// is ever built: these stand in for the real ones without their PostgreSQL and HTTP dependencies.
#include "core/backend_factories.h"

namespace relay {
namespace {
Error not_built() { return fatal("backends are not built in the fuzz targets"); }
}  // namespace

Result<std::unique_ptr<Source>> make_outbox_source(const PipelineConfig&, const BuildContext&) { return not_built(); }
Result<std::unique_ptr<Sink>> make_stdout_sink(const PipelineConfig&, const BuildContext&) { return not_built(); }
Result<std::unique_ptr<Sink>> make_file_sink(const PipelineConfig&, const BuildContext&) { return not_built(); }
Result<std::unique_ptr<Sink>> make_pg_inbox_sink(const PipelineConfig&, const BuildContext&) { return not_built(); }
Result<std::unique_ptr<Source>> make_http_source(const PipelineConfig&, const BuildContext&) { return not_built(); }
Result<std::unique_ptr<Source>> make_stdin_source(const PipelineConfig&, const BuildContext&) { return not_built(); }

}  // namespace relay
