// Routing templates on hostile text: compile arbitrary template text and render it against an
// arbitrary row. Templates cannot reach outside their variables: every rendered byte comes from the
// template's literal text or from the value of a variable the template names, and a template that
// does not compile says so instead of crashing.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "config/template.h"
#include "fuzz_support.h"
#include "util/json_scan.h"

namespace {

namespace js = relay::json_scan;

// Row fields read as the outbox source reads them.
struct RowVars : relay::TemplateVars {
  std::string_view row;
  bool column(std::string_view name, std::string& out) const override {
    std::string_view v;
    if (!js::field(row, name, v)) return false;
    js::append_text(out, v);
    return true;
  }
};

// Renders every variable as <marker>tag<marker> so the output shows where each byte came from.
struct MarkerVars : relay::TemplateVars {
  std::string stream_table_text, schema_text, table_text, op_text, outbox_id_text, refresh_id_text;
  char marker = 0;
  explicit MarkerVars(char m) : marker(m) {
    stream_table_text = std::string(1, m) + "s" + m;
    schema_text = std::string(1, m) + "h" + m;
    table_text = std::string(1, m) + "t" + m;
    op_text = std::string(1, m) + "o" + m;
    outbox_id_text = std::string(1, m) + "i" + m;
    refresh_id_text = std::string(1, m) + "r" + m;
    stream_table = stream_table_text;
    schema = schema_text;
    table = table_text;
    op = op_text;
    outbox_id = outbox_id_text;
    refresh_id = refresh_id_text;
  }
  bool column(std::string_view name, std::string& out) const override {
    out += marker;
    out += 'c';
    out += name;
    out += marker;
    return true;
  }
};

}  // namespace

// Input: template, stream_table, op, outbox_id, refresh_id, the row JSON, schema and table, as fields.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  relay::fuzz::Fields in({reinterpret_cast<const char*>(data), size});
  std::string text(in[0]);
  std::string stream_table(in[1]), op(in[2]), outbox_id(in[3]), refresh_id(in[4]);
  std::string_view row = in[5];
  std::string schema(in[6]), table(in[7]);

  auto t = relay::Template::compile(text);
  if (!t) {
    FUZZ_CHECK(!t.error().message.empty(), "a compile error has a message");
    FUZZ_CHECK(text.find_first_of("{}") != std::string::npos, "text without braces always compiles");
    return 0;
  }
  FUZZ_CHECK(t->text() == text, "the template keeps its text");

  // A byte the template does not contain marks the variables (none left: skip the provenance check).
  std::array<bool, 256> used{};
  for (unsigned char c : text) used[c] = true;
  int free_byte = -1;
  for (int c = 1; c < 256 && free_byte < 0; ++c)
    if (!used[c]) free_byte = c;
  if (free_byte < 0) return 0;
  const char m = static_cast<char>(free_byte);

  std::string marked = t->render(MarkerVars(m));
  FUZZ_CHECK(marked.compare(0, t->literal_prefix().size(), t->literal_prefix()) == 0,
             "the literal prefix starts every rendering");
  if (text.find_first_of("{}") == std::string::npos) FUZZ_CHECK(marked == text, "text without braces renders as is");

  RowVars vars;
  vars.stream_table = stream_table;
  vars.schema = schema;
  vars.table = table;
  vars.op = op;
  vars.outbox_id = outbox_id;
  vars.refresh_id = refresh_id;
  vars.row = row;
  std::string rendered = t->render(vars);

  // Walk the marked rendering: literal runs must come from the template's text, in order; each
  // marked variable is replaced by its real value to rebuild what the real rendering must be.
  std::string expected;
  size_t in_template = 0;
  bool columns = false;
  size_t pos = 0;
  while (pos < marked.size()) {
    size_t open = marked.find(m, pos);
    std::string_view literal = std::string_view(marked).substr(pos, open == std::string::npos ? std::string::npos : open - pos);
    FUZZ_CHECK(literal.find_first_of("{}") == std::string_view::npos, "literal text holds no braces");
    size_t found = text.find(literal, in_template);
    FUZZ_CHECK(found != std::string::npos, "literal text comes from the template, in order");
    in_template = found + literal.size();
    expected += literal;
    if (open == std::string::npos) break;
    size_t close = marked.find(m, open + 1);
    FUZZ_CHECK(close != std::string::npos && close > open + 1, "variables are whole");
    std::string_view tag = std::string_view(marked).substr(open + 1, close - open - 1);
    switch (tag[0]) {
      case 's': FUZZ_CHECK(tag.size() == 1, "known variable"); expected += stream_table; break;
      case 'h': FUZZ_CHECK(tag.size() == 1, "known variable"); expected += schema; break;
      case 't': FUZZ_CHECK(tag.size() == 1, "known variable"); expected += table; break;
      case 'o': FUZZ_CHECK(tag.size() == 1, "known variable"); expected += op; break;
      case 'i': FUZZ_CHECK(tag.size() == 1, "known variable"); expected += outbox_id; break;
      case 'r': FUZZ_CHECK(tag.size() == 1, "known variable"); expected += refresh_id; break;
      case 'c': {
        std::string_view name = tag.substr(1);
        FUZZ_CHECK(!name.empty() && name.front() != ' ' && name.back() != ' ', "column names are trimmed");
        FUZZ_CHECK(name.find_first_of("{}") == std::string_view::npos, "column names hold no braces");
        FUZZ_CHECK(text.find(name) != std::string::npos, "column names come from the template");
        vars.column(name, expected);
        columns = true;
        break;
      }
      default: FUZZ_CHECK(false, "known variable");
    }
    pos = close + 1;
  }
  FUZZ_CHECK(columns == t->has_columns(), "has_columns tells whether row fields are read");
  FUZZ_CHECK(rendered == expected, "rendering is the template's literals and its variables' values");
  FUZZ_CHECK(t->render(vars) == rendered, "rendering is deterministic");
  return 0;
}
