// The WAL capture's decoder on hostile bytes: a replication stream is the server's, but a decoder
// that reads past a message or builds invalid JSON from a tuple would corrupt what the relay sends.
// Every decoded value must lie inside the input, and a tuple's text values must make valid JSON.
#include <cstddef>
#include <cstdint>
#include <string>

#include "backends/postgres/pgoutput.h"
#include "backends/postgres/wal_rows.h"
#include "fuzz_support.h"
#include "util/json_scan.h"
#include "util/strings.h"

namespace po = relay::postgres::pgoutput;

namespace {

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

void check_tuple(const po::Tuple& t, std::string_view input) {
  po::Relation rel;
  rel.schema = "s";
  rel.name = "t";
  for (size_t i = 0; i < t.size(); ++i) {
    FUZZ_CHECK(inside(t[i].data, input), "a value lies inside the message");
    rel.columns.push_back({.name = "c" + std::to_string(i), .type_oid = 25});
  }
  std::string out = "[";
  relay::postgres::append_row_values(rel, t, nullptr, out);
  out += "]";
  // Text PostgreSQL sends is valid UTF-8; invalid bytes pass through unchanged, so check only then.
  bool utf8 = true;
  for (const auto& v : t) utf8 = utf8 && relay::util::valid_text(v.data);
  if (utf8) FUZZ_CHECK(relay::json_scan::valid(out), "row values make valid JSON");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto framed = po::decode_copy_data(input)) {
    if (auto* x = std::get_if<po::XLogData>(&*framed)) FUZZ_CHECK(inside(x->payload, input), "the payload lies inside the frame");
  }
  auto m = po::decode(input);
  if (!m) {
    FUZZ_CHECK(!m.error().message.empty(), "an error says what is wrong");
    return 0;
  }
  if (auto* i = std::get_if<po::Insert>(&*m)) check_tuple(i->new_tuple, input);
  if (auto* u = std::get_if<po::Update>(&*m)) {
    check_tuple(u->old_tuple, input);
    check_tuple(u->new_tuple, input);
  }
  if (auto* d = std::get_if<po::Delete>(&*m)) check_tuple(d->old_tuple, input);
  if (auto* l = std::get_if<po::LogicalMessage>(&*m)) FUZZ_CHECK(inside(l->content, input), "the content lies inside the message");
  return 0;
}
