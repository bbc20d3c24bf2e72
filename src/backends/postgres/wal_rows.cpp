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

Result<std::string> RowRenderer::statement(pg::Connection& db, const po::Relation& relation) {
  // Each column is rebuilt with its type as the WAL describes it, not with the table's row type of
  // now: rows written before a column was added or dropped keep the shape they were written with.
  std::string oids = "{", mods = "{";
  for (const auto& c : relation.columns) {
    oids += (oids.size() > 1 ? "," : "") + std::to_string(c.type_oid);
    mods += (mods.size() > 1 ? "," : "") + std::to_string(c.type_modifier);
  }
  auto types = db.exec("SELECT pg_catalog.format_type(t.oid, t.mod) FROM unnest($1::oid[], $2::int4[]) WITH ORDINALITY AS t(oid, mod, n) ORDER BY t.n",
                       {oids + "}", mods + "}"});
  if (!types) return types.error();
  if (types->rows() != static_cast<int>(relation.columns.size()))
    return retriable(fmt::format("the column types of {}.{} could not be read", relation.schema, relation.name));

  const std::string table = pg::quote_ident(relation.schema) + "." + pg::quote_ident(relation.name);
  std::string key_names, key_match, object;
  for (size_t i = 0; i < relation.columns.size(); ++i) {
    const auto& c = relation.columns[i];
    const std::string name = pg::quote_literal(c.name);
    // A value the WAL left out (an unchanged TOASTed one) is the current row's.
    std::string value = is_json_type(c.type_oid) ? fmt::format("r.x->{}", name)
                                                 : fmt::format("to_jsonb((r.x->>{})::{})", name, types->str(static_cast<int>(i), 0));
    std::string pair = fmt::format("{}, CASE WHEN r.x ? {} THEN {} ELSE r.cur->{} END", name, name, value, name);
    // jsonb_build_object takes at most 50 pairs: wider rows are built in parts.
    if (i % 50 == 0) object += (i ? ") || jsonb_build_object(" : "jsonb_build_object(");
    else object += ", ";
    object += pair;
    if (c.key) {
      key_names += (key_names.empty() ? "" : ", ") + name;
      key_match += fmt::format("{}cur.{} = (r.x->>{})::{}", key_match.empty() ? "" : " AND ", pg::quote_ident(c.name), name,
                               types->str(static_cast<int>(i), 0));
    }
  }
  object += relation.columns.empty() ? "'{}'::jsonb" : ")";
  // With a key, a row whose unchanged TOASTed values the WAL left out takes them from the table.
  std::string current_row = key_match.empty()
                                ? "NULL::jsonb"
                                : fmt::format("(SELECT to_jsonb(cur) FROM {} AS cur WHERE {})", table, key_match);
  // A key-only row keeps the key's columns (text[] of no names when the table has no key).
  return fmt::format(
      "SELECT CASE WHEN (e.x->>'key_only')::boolean "
      "THEN (SELECT coalesce(jsonb_object_agg(j.key, j.value), '{{}}') FROM jsonb_each(o.row) AS j WHERE j.key = ANY (ARRAY[{2}]::text[])) "
      "ELSE o.row END::text "
      "FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(x, n) "
      "CROSS JOIN LATERAL (SELECT e.x->'row' AS x, CASE WHEN (e.x->>'fill')::boolean THEN {0} END AS cur "
      "                    FROM (SELECT e.x->'row' AS x) AS r) AS r "
      "CROSS JOIN LATERAL (SELECT {1} AS row) AS o ORDER BY e.n",
      current_row, object, key_names);
}

Result<std::vector<std::string>> RowRenderer::render(pg::Connection& db, const po::Relation& relation, const std::string& rows,
                                                     const std::string& prepared) {
  std::string sql;
  if (prepared.empty()) {
    auto built = statement(db, relation);
    if (!built) return built.error();
    sql = std::move(*built);
  }
  auto r = prepared.empty() ? db.exec(sql, {rows}) : db.exec_prepared(prepared, {rows});
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
