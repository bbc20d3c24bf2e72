// Outbox payload decoding on hostile rows: every payload shape the outbox source accepts (our v1
// deltas, pg_trickle's bare snapshots and count notices, application events with headers, and
// claim-check delta rows), under every granularity, format and key setting. Unreadable input must
// become poison messages, never a crash; readable input must give well-formed envelopes.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "backends/postgres/expand.h"
#include "util/strings.h"

namespace {

using namespace relay;

const Template& compiled(const char* text) {
  static std::vector<std::unique_ptr<Template>> keep;
  keep.push_back(std::make_unique<Template>(*Template::compile(text)));
  return *keep.back();
}

// As jsonb holds it: UTF-8 text without NUL (where the strict parser would stop), valid JSON.
bool json_ok(std::string_view s) { return util::valid_text(s) && nlohmann::json::accept(s); }

}  // namespace

// Input fields: flags, outbox id, committed_at (seconds, as text), headers JSON, then the payload,
// or with flag K the claim-check rows (a leading '-' marks a deleted row). Flags: D delta
// granularity, C cloudevents, E event row, K claim-check row, L last chunk, 1/2/T key from "id" /
// "id","k" / a template, R a second route, S a schema-qualified stream table.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Template& key_template = compiled("{{ id }}/{{ k }}");
  static const Template& route = compiled("{stream_table}.{op}.{{ region }}");
  static const Template& route2 = compiled("{outbox_id}-{refresh_id}");

  fuzz::Fields in({reinterpret_cast<const char*>(data), size});
  std::string_view flags = in[0];
  auto flag = [&](char c) { return flags.find(c) != std::string_view::npos; };
  postgres::ExpandOptions opt;
  opt.outbox = "outbox_orders";
  opt.stream_table = flag('S') ? "public.order_lines" : "orders";
  opt.granularity = flag('D') ? Granularity::delta : Granularity::row;
  opt.format = flag('C') ? Format::cloudevents : Format::json;
  if (flag('1')) opt.key_columns = {"id"};
  if (flag('2')) opt.key_columns = {"id", "k"};
  if (flag('T')) opt.key_template = &key_template;
  opt.routes = {&route, flag('R') ? &route2 : nullptr};

  postgres::OutboxRow row;
  row.id = std::strtoll(std::string(in[1]).c_str(), nullptr, 10);
  row.seq = row.id;
  row.is_event = flag('E');
  row.is_claim_check = flag('K');
  row.refresh_id = flag('D') ? "3f2a8c1e-0b7d-4e55-9a61-2c4d8e9f0a17" : "";
  // extract(epoch from created_at) as text: any float8, 'Infinity' and 'NaN' included.
  row.committed_at = std::strtod(std::string(in[2]).c_str(), nullptr);
  row.headers = in[3];

  // Payloads and headers come from jsonb columns: envelopes are checked when they are valid JSON.
  bool inputs_ok = row.headers.empty() || json_ok(row.headers);
  postgres::Expander expander(opt);
  std::vector<Message> out;
  if (!row.is_claim_check) {
    row.payload = in[4];
    inputs_ok = inputs_ok && (row.payload.empty() || json_ok(row.payload));
    expander.expand_row(row, out);
  } else {
    std::vector<postgres::DeltaRow> rows;
    for (size_t i = 4; i < in.size(); ++i) {
      postgres::DeltaRow r;
      r.row_num = static_cast<std::int64_t>(i - 4);
      std::string_view text = in[i];
      r.is_delete = !text.empty() && text[0] == '-';
      r.data = text.substr(r.is_delete ? 1 : 0);
      inputs_ok = inputs_ok && json_ok(r.data);
      rows.push_back(std::move(r));
    }
    std::size_t consumed = 0;
    expander.expand_delta_rows(row, rows, flag('L'), consumed, out);
    FUZZ_CHECK(consumed <= rows.size(), "no more rows consumed than given");
    if (flag('L')) FUZZ_CHECK(consumed == rows.size(), "the last chunk is consumed whole");
  }

  std::set<std::string> keys;
  for (const auto& m : out) {
    FUZZ_CHECK(!m.dedup_key.empty(), "every message has a dedup key");
    FUZZ_CHECK(util::starts_with(m.dedup_key, opt.outbox + ":"), "dedup keys start with the outbox");
    if (!inputs_ok) continue;
    if (!keys.insert(m.dedup_key).second) {
      for (const auto& o : out) std::fprintf(stderr, "message %s: %s\n", o.dedup_key.c_str(), o.body.c_str());
      FUZZ_CHECK(false, "dedup keys are unique within an outbox row");
    }
    if (!m.poison.empty()) continue;
    if (!json_ok(m.body)) std::fprintf(stderr, "envelope: %s\n", m.body.c_str());
    FUZZ_CHECK(json_ok(m.body), "the envelope of a readable payload is valid JSON");
    FUZZ_CHECK(json_ok(m.data), "the data of a readable payload is valid JSON");
  }
  return 0;
}
