#include "backends/postgres/table_shape.h"

#include <fmt/format.h>

#include <unordered_map>

namespace relay::postgres {
namespace {

constexpr const char* kColumns =
    "SELECT n.nspname, c.relname, c.relreplident, pg_catalog.current_database(), a.attname, a.atttypid, a.atttypmod, "
    "a.attnotnull, CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid) END "
    "FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
    "LEFT JOIN pg_catalog.pg_attrdef AS d ON d.adrelid = c.oid AND d.adnum = a.attnum "
    "WHERE c.oid = $1::oid ORDER BY a.attnum";

// Every type the columns name, and what their domains and arrays lead to.
constexpr const char* kTypes =
    "WITH RECURSIVE ty(oid) AS (SELECT pg_catalog.unnest($1::oid[]) UNION "
    "SELECT v.x FROM ty JOIN pg_catalog.pg_type AS t ON t.oid = ty.oid CROSS JOIN LATERAL "
    "(VALUES (t.typbasetype), (CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE 0 END)) AS v(x) WHERE v.x <> 0) "
    "SELECT t.oid, t.typtype, t.typbasetype, t.typtypmod, CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE 0 END, "
    "t.typname, (SELECT pg_catalog.string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum AS e "
    "WHERE e.enumtypid = t.oid) FROM ty JOIN pg_catalog.pg_type AS t ON t.oid = ty.oid";

struct TypeRow {
  char typtype = 'b';
  std::uint32_t base = 0;
  std::int32_t base_typmod = -1;
  std::uint32_t element = 0;
  std::string name, labels;
};
using Types = std::unordered_map<std::uint32_t, TypeRow>;

// Follows a domain to its base type (a domain's typmod applies when the column has none).
const TypeRow* base_of(const Types& types, std::uint32_t& oid, std::int32_t& typmod) {
  for (int depth = 0; depth < 32; ++depth) {
    auto it = types.find(oid);
    if (it == types.end()) return nullptr;
    if (it->second.typtype != 'd') return &it->second;
    if (typmod < 0) typmod = it->second.base_typmod;
    oid = it->second.base;
  }
  return nullptr;
}

debezium::PgType resolve(const Types& types, std::uint32_t oid, std::int32_t typmod) {
  debezium::PgType t;
  const TypeRow* row = base_of(types, oid, typmod);
  t.oid = oid;
  t.typmod = typmod;
  if (!row) return t;
  t.typtype = row->typtype;
  t.name = row->name;
  t.enum_labels = row->labels;
  if (row->element) {
    std::uint32_t element = row->element;
    std::int32_t element_typmod = typmod;
    const TypeRow* e = base_of(types, element, element_typmod);
    t.element = element;
    if (e) {
      t.element_typtype = e->typtype;
      t.element_name = e->name;
      t.element_enum_labels = e->labels;
    }
  }
  return t;
}

}  // namespace

Result<std::vector<std::string>> primary_key(pg::Connection& db, std::uint32_t table_oid) {
  auto r = db.exec("SELECT a.attname FROM pg_catalog.pg_index AS i CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) "
                   "WITH ORDINALITY AS k(attnum, n) JOIN pg_catalog.pg_attribute AS a ON a.attrelid = i.indrelid "
                   "AND a.attnum = k.attnum WHERE i.indrelid = $1::oid AND i.indisprimary ORDER BY k.n",
                   {std::to_string(table_oid)});
  if (!r) return r.error();
  std::vector<std::string> key;
  for (int i = 0; i < r->rows(); ++i) key.push_back(r->str(i, 0));
  return key;
}

Result<debezium::TableShape> load_table_shape(pg::Connection& db, std::uint32_t table_oid, std::vector<std::string> key,
                                              const pgoutput::Relation* relation) {
  auto cols = db.exec(kColumns, {std::to_string(table_oid)});
  if (!cols) return cols.error();
  if (cols->rows() == 0) return retriable(fmt::format("the table with oid {} is gone", table_oid));
  debezium::TableShape shape;
  shape.schema = relation ? relation->schema : cols->str(0, 0);
  shape.table = relation ? relation->name : cols->str(0, 1);
  shape.replica_identity = relation ? relation->replica_identity : cols->text(0, 2).front();
  shape.database = cols->str(0, 3);
  shape.key = std::move(key);

  struct Catalog {
    bool not_null = false;
    std::string default_expr;  // pg_get_expr deparses the stored tree: nothing is evaluated
  };
  std::unordered_map<std::string, Catalog> catalog;
  struct Wanted {
    std::string name;
    std::uint32_t oid;
    std::int32_t typmod;
  };
  std::vector<Wanted> wanted;
  for (int r = 0; r < cols->rows(); ++r) {
    if (cols->null(r, 4)) continue;  // a table without columns
    catalog[cols->str(r, 4)] = {cols->boolean(r, 7), cols->null(r, 8) ? "" : cols->str(r, 8)};
    if (!relation)
      wanted.push_back({cols->str(r, 4), static_cast<std::uint32_t>(cols->int64(r, 5)), static_cast<std::int32_t>(cols->int64(r, 6))});
  }
  if (relation)
    for (const auto& c : relation->columns) wanted.push_back({c.name, c.type_oid, c.type_modifier});

  std::string oids = "{";
  for (const auto& w : wanted) oids += (oids.size() > 1 ? "," : "") + std::to_string(w.oid);
  oids += '}';
  auto rows = db.exec(kTypes, {oids});
  if (!rows) return rows.error();
  Types types;
  for (int r = 0; r < rows->rows(); ++r) {
    TypeRow& t = types[static_cast<std::uint32_t>(rows->int64(r, 0))];
    t.typtype = rows->text(r, 1).empty() ? 'b' : rows->text(r, 1).front();
    t.base = static_cast<std::uint32_t>(rows->int64(r, 2));
    t.base_typmod = static_cast<std::int32_t>(rows->int64(r, 3));
    t.element = static_cast<std::uint32_t>(rows->int64(r, 4));
    t.name = rows->str(r, 5);
    if (!rows->null(r, 6)) t.labels = rows->str(r, 6);
  }
  for (const auto& w : wanted) {
    auto known = catalog.find(w.name);
    auto type = types.find(w.oid);
    debezium::Column& c = shape.columns.emplace_back();
    c.name = w.name;
    c.type = resolve(types, w.oid, w.typmod);
    if (type != types.end()) c.type_name = type->second.name;
    c.optional = known == catalog.end() || !known->second.not_null;
    c.domain = type != types.end() && type->second.typtype == 'd';
    if (known != catalog.end()) c.default_expr = known->second.default_expr;
  }
  return shape;
}

Result<std::shared_ptr<const debezium::EventEncoder>> make_event_encoder(pg::Connection& db, std::uint32_t table_oid,
                                                                         std::vector<std::string> key,
                                                                         const DebeziumOptions& options,
                                                                         const pgoutput::Relation* relation) {
  auto shape = load_table_shape(db, table_oid, std::move(key), relation);
  if (!shape) return shape.error();
  debezium::EventOptions opt{options.topic_prefix, options.schemas, options.modes, options.propagate};
  return std::make_shared<const debezium::EventEncoder>(std::move(*shape), std::move(opt));
}

Result<std::uint32_t> outbox_source_table(pg::Connection& db, const std::string& outbox, const std::string& stream_table) {
  auto r = db.exec("SELECT coalesce((SELECT pg_catalog.to_regclass(pg_catalog.format('%I.%I', source_schema, source_table)) "
                   "FROM pgtrickle.outbox_tables WHERE outbox_name = $1 AND source_schema IS NOT NULL), "
                   "pg_catalog.to_regclass(pg_catalog.quote_ident($2)))::oid",
                   {outbox, stream_table});
  if (!r) return r.error();
  return r->null(0, 0) ? 0u : static_cast<std::uint32_t>(r->int64(0, 0));
}

}  // namespace relay::postgres
