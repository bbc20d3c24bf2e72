// The config file parser and the pipeline validator on hostile text: the input is read both as a
// TOML config file and as the JSON config of a SQL-defined pipeline. Bad input must give problems,
// never a crash, hang or leak; a config that validates must validate again, unchanged, in its
// canonical form (what reload and `pgtrickle-relay validate` compare).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "config/file_config.h"
#include "config/pipeline_config.h"
#include "fuzz_support.h"

namespace {

using relay::Direction;
using relay::PipelineConfig;

void check_valid_pipeline(const PipelineConfig& p) {
  FUZZ_CHECK(!p.source_type.empty() && !p.sink_type.empty(), "a valid pipeline names its source and sink");
  FUZZ_CHECK(p.batch_size >= 1 && p.batch_size <= 100000, "batch_size is within its bounds");
  FUZZ_CHECK(p.poll_interval_ms >= 1, "poll_interval_ms is positive");
  (void)relay::redact_config(p.canonical);
  std::vector<std::string> again;
  auto q = relay::build_pipeline_config(p.name, p.direction, p.enabled, p.canonical, p.origin, again);
  FUZZ_CHECK(again.empty(), "the canonical form of a valid pipeline validates");
  FUZZ_CHECK(q.canonical == p.canonical, "the canonical form is a fixed point");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);

  std::vector<std::string> problems;
  auto file = relay::parse_config_text(text, "fuzz.toml", problems);
  for (const auto& p : problems) FUZZ_CHECK(!p.empty(), "problems are sentences");
  if (problems.empty())
    for (const auto& p : file.pipelines) check_valid_pipeline(p);

  // The SQL catalog reads the stored config the same way (parse without exceptions, then validate).
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (!json.is_discarded()) {
    for (Direction dir : {Direction::forward, Direction::reverse}) {
      std::vector<std::string> sql_problems;
      auto p = relay::build_pipeline_config("fuzz", dir, true, json, "sql", sql_problems);
      for (const auto& s : sql_problems) FUZZ_CHECK(!s.empty(), "problems are sentences");
      if (sql_problems.empty()) check_valid_pipeline(p);
    }
  }
  return 0;
}
