#include "backends/postgres/wal_rows.h"

#include <fmt/format.h>

#include "util/json_escape.h"

namespace relay::postgres {

namespace po = pgoutput;

namespace {
constexpr uint32_t kJsonOid = 114, kJsonbOid = 3802;
bool is_json_type(uint32_t oid) { return oid == kJsonOid || oid == kJsonbOid; }
}  // namespace

bool append_row_values(const po::Relation& relation, const po::Tuple& tuple, const po::Tuple* old, std::string& out,
                       bool key_only) {
  out += "{\"row\":{";
  bool fill = false, first = true;
  const size_t n = std::min(relation.columns.size(), tuple.size());
  for (size_t i = 0; i < n; ++i) {
    const po::Value* v = &tuple[i];
    if (v->kind == po::Value::unchanged_toast && old && i < old->size() && (*old)[i].kind == po::Value::text) v = &(*old)[i];
    if (key_only && !relation.columns[i].key) continue;
    if (v->kind == po::Value::unchanged_toast) {
      fill = true;
      continue;
    }
    if (!first) out += ',';
    first = false;
    util::append_json_string(out, relation.columns[i].name);
    out += ':';
    if (v->kind == po::Value::null) out += "null";
    else if (is_json_type(relation.columns[i].type_oid)) out += v->data;  // a JSON string would stay a string
    else util::append_json_string(out, v->data);
  }
  out += fill ? "},\"fill\":true" : "},\"fill\":false";
  out += key_only ? ",\"key_only\":true}" : ",\"key_only\":false}";
  return fill;
}

bool built_in_types_only(const po::Relation& relation) {
  constexpr uint32_t kFirstNormalObjectId = 16384;  // PostgreSQL's: below it, what initdb made
  for (const auto& c : relation.columns)
    if (c.type_oid >= kFirstNormalObjectId) return false;
  return true;
}

std::string RowRenderer::columns_json(const po::Relation& relation) {
  std::string out = "[";
  for (const auto& c : relation.columns) {
    if (out.size() > 1) out += ',';
    out += "{\"name\":";
    util::append_json_string(out, c.name);
    out += fmt::format(",\"type\":{},\"mod\":{},\"key\":{}}}", c.type_oid, c.type_modifier, c.key ? "true" : "false");
  }
  return out + "]";
}

namespace {
// Runs a render statement (one text per row, in order); a failure says what was being rendered.
Result<std::vector<std::string>> rendered_texts(pg::Connection& db, const char* sql, const pg::Params& params,
                                                const std::string& what) {
  auto r = db.exec(sql, params);
  if (!r) {
    auto e = r.error();
    e.message = fmt::format("rendering {} read from the WAL: {}", what, e.message);
    return e;
  }
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(r->rows()));
  for (int i = 0; i < r->rows(); ++i) out.push_back(r->str(i, 0));
  return out;
}
}  // namespace

Result<std::vector<std::string>> RowRenderer::render(pg::Connection& db, const po::Relation& relation, const std::string& rows,
                                                     std::string columns) {
  if (columns.empty()) columns = columns_json(relation);
  return rendered_texts(db, "SELECT r FROM pgtrickle._wal_render($1, $2, $3::jsonb, $4::jsonb) AS r",
                        {relation.schema, relation.name, std::move(columns), rows},
                        fmt::format("rows of {}.{}", relation.schema, relation.name));
}

Result<std::vector<std::string>> RowRenderer::render_tables(pg::Connection& db, const std::string& groups) {
  return rendered_texts(db, "SELECT r FROM pgtrickle._wal_render_tables($1::jsonb) AS r", {groups}, "rows");
}

}  // namespace relay::postgres
