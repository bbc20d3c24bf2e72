#include "backends/postgres/wal_rows.h"

#include <fmt/format.h>

#include "util/json_escape.h"

namespace relay::postgres {

namespace po = pgoutput;

namespace {
constexpr uint32_t kJsonOid = 114, kJsonbOid = 3802;
bool is_json_type(uint32_t oid) { return oid == kJsonOid || oid == kJsonbOid; }
}  // namespace

void append_row_values(const po::Relation& relation, const po::Tuple& tuple, const po::Tuple* old, std::string& out,
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
}

std::string RowRenderer::statement(const po::Relation& relation) {
  const std::string table = pg::quote_ident(relation.schema) + "." + pg::quote_ident(relation.name);
  std::string current_row = "NULL";
  std::string keys_cur, keys_new, key_names;
  for (const auto& c : relation.columns) {
    if (!c.key) continue;
    key_names += (key_names.empty() ? "" : ", ") + pg::quote_literal(c.name);
    keys_cur += (keys_cur.empty() ? "" : ", ") + std::string("cur.") + pg::quote_ident(c.name);
    keys_new += (keys_new.empty() ? "" : ", ") + std::string("p.") + pg::quote_ident(c.name);
  }
  // With a key, a row whose unchanged TOASTed values the WAL left out takes them from the table.
  if (!keys_cur.empty())
    current_row = fmt::format("(SELECT cur FROM {} AS cur WHERE ROW({}) = ROW({}))", table, keys_cur, keys_new);
  // A key-only row keeps the key's columns (text[] of no names when the table has no key).
  return fmt::format(
      "SELECT CASE WHEN (e.x->>'key_only')::boolean "
      "THEN (SELECT coalesce(jsonb_object_agg(j.key, j.value), '{{}}') FROM jsonb_each(to_jsonb(p)) AS j WHERE j.key = ANY (ARRAY[{2}]::text[])) "
      "ELSE to_jsonb(jsonb_populate_record(CASE WHEN (e.x->>'fill')::boolean THEN {0} ELSE NULL::{1} END, e.x->'row')) END::text "
      "FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(x, n) "
      "CROSS JOIN LATERAL jsonb_populate_record(NULL::{1}, e.x->'row') AS p ORDER BY e.n",
      current_row, table, key_names);
}

Result<std::vector<std::string>> RowRenderer::render(pg::Connection& db, const po::Relation& relation, const std::string& rows,
                                                     const std::string& prepared) {
  auto r = prepared.empty() ? db.exec(statement(relation), {rows}) : db.exec_prepared(prepared, {rows});
  if (!r) {
    auto e = r.error();
    e.message = fmt::format("rendering rows of {}.{} read from the WAL: {}", relation.schema, relation.name, e.message);
    return e;
  }
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(r->rows()));
  for (int i = 0; i < r->rows(); ++i) out.push_back(r->str(i, 0));
  return out;
}

}  // namespace relay::postgres
