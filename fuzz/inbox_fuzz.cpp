// Inbox row mapping on hostile broker messages: arbitrary body bytes and headers, mapped by
// arbitrary field references. Every message must become either a row PostgreSQL can read with
// jsonb_to_recordset (valid JSON, UTF-8, no NUL in any string) or a rejected outcome; never a
// crash, and never a batch one bad message spoils for the others.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "sinks/pg_inbox/inbox_rows.h"
#include "util/strings.h"

namespace {

using namespace relay;
using json = nlohmann::json;

// jsonb cannot hold a NUL character in any string, key or value.
bool storable(const json& j) {
  if (j.is_string()) return j.get_ref<const std::string&>().find('\0') == std::string::npos;
  if (j.is_object()) {
    for (const auto& [k, v] : j.items())
      if (k.find('\0') != std::string::npos || !storable(v)) return false;
    return true;
  }
  if (j.is_array()) {
    for (const auto& v : j)
      if (!storable(v)) return false;
  }
  return true;
}

}  // namespace

// Input fields: flags (F forward pipeline, L dead-letter invalid payloads), the event_id,
// event_type, aggregate_id and trace_id mappings (empty: not set), max_payload_bytes, then one field
// per message, its parts: body, subject, dedup key, key, source, rendered event type, then headers
// as name=value.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Fields in({reinterpret_cast<const char*>(data), size});
  bool forward = in[0].find('F') != std::string_view::npos;
  json sink = json::object();
  const char* keys[] = {"event_id", "event_type", "aggregate_id", "trace_id"};
  for (size_t i = 0; i < 4; ++i)
    if (!in[i + 1].empty()) sink[keys[i]] = std::string(in[i + 1]);
  sink["invalid_payload"] = in[0].find('L') != std::string_view::npos ? "dead_letter" : "store";
  if (!in[5].empty()) sink["max_payload_bytes"] = std::strtoll(std::string(in[5]).c_str(), nullptr, 10);
  auto options = InboxRowOptions::from_config(sink, forward);
  if (!options) {
    FUZZ_CHECK(!options.error().message.empty(), "a mapping error has a message");
    return 0;
  }

  std::vector<Message> batch;
  for (size_t i = 6; i < in.size() || batch.empty(); ++i) {
    fuzz::Fields part(in[i], fuzz::kPart);
    Message& m = batch.emplace_back();
    m.op = forward ? Op::insert : Op::event;
    m.data = part[0];
    m.subject = part[1];
    m.dedup_key = part[2];
    m.key = part[3];
    m.source = part[4];
    m.routes[0] = part[5];
    for (size_t h = 6; h < part.size(); ++h) {
      std::string_view header = part[h];
      size_t eq = header.find('=');
      m.headers.emplace_back(header.substr(0, eq), eq == std::string_view::npos ? "" : header.substr(eq + 1));
    }
  }

  std::vector<Outcome> outcomes(batch.size());
  std::string out;
  size_t rows = encode_inbox_rows(batch, *options, out, outcomes);
  size_t rejected = 0;
  for (const auto& o : outcomes)
    if (o.kind == Outcome::rejected) {
      FUZZ_CHECK(!o.error.empty(), "a rejected message says why");
      ++rejected;
    }
  FUZZ_CHECK(rows + rejected == batch.size(), "every message is a row or rejected");
  FUZZ_CHECK(util::valid_utf8(out), "the rows are UTF-8 text");
  json parsed;
  try {
    parsed = json::parse(out);
  } catch (const json::out_of_range& e) {
    // A number beyond a double (1e400): valid JSON, kept as is. (PostgreSQL's numeric refuses
    // exponents past its range; the sink then sets that one message aside.)
    if (e.id == 406) return 0;
    throw;
  } catch (const json::exception& e) {
    std::fprintf(stderr, "rows: %s\n%s\n", out.c_str(), e.what());
    FUZZ_CHECK(false, "the rows are a valid JSON array");
  }
  FUZZ_CHECK(parsed.is_array(), "the rows are a valid JSON array");
  FUZZ_CHECK(parsed.size() == rows, "one array element per row");
  FUZZ_CHECK(storable(parsed), "no string holds a NUL character");
  for (const auto& r : parsed) {
    FUZZ_CHECK(r.is_object() && r["event_id"].is_string(), "every row has an event_id");
    FUZZ_CHECK(r["headers"].is_object(), "headers are an object");
  }
  return 0;
}
