// Inbox row mapping on hostile broker messages: arbitrary body bytes and headers, mapped by
// arbitrary field references. Every message must become either a row PostgreSQL's COPY can load
// (one line of eight fields, UTF-8, no NUL, payload and headers valid JSON) or a rejected outcome;
// never a crash, and never a batch one bad message spoils for the others.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "pg/copy_text.h"
#include "backends/postgres/inbox_rows.h"
#include "config/specs.h"
#include "util/strings.h"

namespace {

using namespace relay;
using namespace relay::postgres;
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
  auto options = InboxRowOptions::from_config(ConfigSection(kPgInboxSinkSpec, sink), forward);
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
  FUZZ_CHECK(out.find('\0') == std::string::npos, "no NUL byte in the rows");

  // Each row: one line, the fields of kInboxCopyColumns separated by tabs.
  size_t lines = 0;
  std::string field;
  for (size_t at = 0; at < out.size(); ++lines) {
    size_t eol = out.find('\n', at);
    FUZZ_CHECK(eol != std::string::npos, "every row ends with a newline");
    const char* p = out.data() + at;
    const char* end = out.data() + eol;
    at = eol + 1;
    for (int column = 0; column < 8; ++column) {
      FUZZ_CHECK(column == 0 || p[-1] == '\t', "fields are separated by tabs");
      bool is_null = false;
      pg::read_copy_field(p, end, field, is_null);
      if (column == 0) FUZZ_CHECK(!is_null, "every row has an event_id");
      if (column != 4 && column != 6) continue;  // payload and headers are jsonb
      FUZZ_CHECK(!is_null, "payload and headers are never NULL");
      json value;
      try {
        value = json::parse(field);
      } catch (const json::out_of_range& e) {
        // A number beyond a double (1e400): valid JSON, kept as is. (PostgreSQL's numeric refuses
        // exponents past its range; the sink then sets that one message aside.)
        if (e.id == 406) continue;
        throw;
      } catch (const json::exception& e) {
        std::fprintf(stderr, "field: %s\n%s\n", field.c_str(), e.what());
        FUZZ_CHECK(false, "payload and headers are valid JSON");
      }
      FUZZ_CHECK(storable(value), "no JSON string holds a NUL character");
      if (column == 6) FUZZ_CHECK(value.is_object(), "headers are an object");
    }
    FUZZ_CHECK(p == end, "a row has exactly eight fields");
  }
  FUZZ_CHECK(lines == rows, "one line per row");
  return 0;
}
