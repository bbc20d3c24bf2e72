#include "backends/postgres/wal_rows.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "util/json_escape.h"
#include "util/json_scan.h"

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

std::string with_values(std::string_view row, const std::vector<std::pair<std::string, std::string>>& replaced) {
  std::string out = "{";
  json_scan::each_field(row, [&](std::string_view key, std::string_view value) {
    if (out.size() > 1) out += ',';
    out += key;
    out += ':';
    auto r = std::ranges::find(replaced, key, [](const auto& f) { return std::string_view(f.first); });
    out += r != replaced.end() ? std::string_view(r->second) : value;
  }, /*trusted=*/true);
  return out + "}";
}

bool built_in_types_only(const po::Relation& relation) {
  for (const auto& c : relation.columns)
    if (c.type_oid >= po::kFirstNormalObjectId) return false;
  return true;
}

namespace {
// jsonb's order of object keys: shorter first, then byte by byte.
bool jsonb_key_less(const std::string& a, const std::string& b) {
  return a.size() != b.size() ? a.size() < b.size() : a < b;
}
}  // namespace

std::optional<PlainRows> PlainRows::of(const po::Relation& relation, bool text_dates) {
  PlainRows rows;
  std::vector<std::pair<std::string, Column>> named;
  for (std::size_t i = 0; i < relation.columns.size(); ++i) {
    const auto& c = relation.columns[i];
    Kind kind;
    switch (c.type_oid) {
      case 20: case 21: case 23: kind = Kind::number; break;         // int8, int2, int4
      case 700: case 701: kind = Kind::floating; break;              // float4, float8
      case 1700: kind = Kind::numeric; break;
      case 16: kind = Kind::boolean; break;
      case 1082: kind = Kind::date; break;
      case 1114: kind = Kind::timestamp; break;
      case 1184: kind = Kind::timestamptz; break;
      case 3802: kind = Kind::jsonb; break;
      // to_jsonb writes these as a JSON string of their text.
      case 25: case 1043: case 1042: case 19: case 18:               // text, varchar, bpchar, name, "char"
      case 2950: case 869: case 650: case 829: case 774:             // uuid, inet, cidr, macaddr, macaddr8
      case 17: case 1186: case 1083: case 1266: case 790:            // bytea, interval, time, timetz, money
      case 1560: case 1562: case 142: case 3614: case 3615:          // bit, varbit, xml, tsvector, tsquery
      case 3220: case 26: case 28: case 5069:                        // pg_lsn, oid, xid, xid8
      case 600: case 601: case 602: case 603: case 604: case 628: case 718:  // geometric types
      case 3904: case 3906: case 3908: case 3910: case 3912: case 3926:      // ranges
        kind = Kind::text;
        break;
      default: return std::nullopt;  // json (normalized by jsonb), arrays, composite, reg*, user types
    }
    if (!text_dates && (kind == Kind::date || kind == Kind::timestamp || kind == Kind::timestamptz)) return std::nullopt;
    std::string name;
    util::append_json_string(name, c.name);
    name += ':';
    named.emplace_back(c.name, Column{i, kind, c.key, std::move(name)});
  }
  std::stable_sort(named.begin(), named.end(), [](const auto& a, const auto& b) { return jsonb_key_less(a.first, b.first); });
  for (auto& [n, c] : named) {
    rows.names_size_ += c.name.size() + 4;  // and a comma, quotes or a T and a zone's minutes
    rows.columns_.push_back(std::move(c));
  }
  return rows;
}

std::string float_as_numeric(std::string_view text) {
  std::string_view sign = !text.empty() && (text[0] == '-' || text[0] == '+') ? text.substr(0, 1) : std::string_view();
  text.remove_prefix(sign.size());
  const auto e = text.find_first_of("eE");
  std::string_view mantissa = text.substr(0, e);
  long exponent = e == std::string_view::npos ? 0 : std::strtol(std::string(text.substr(e + 1)).c_str(), nullptr, 10);
  const auto dot = mantissa.find('.');
  std::string digits(mantissa.substr(0, dot));
  const std::size_t int_digits = digits.size();
  if (dot != std::string_view::npos) digits += mantissa.substr(dot + 1);
  // The decimal point moves `exponent` places; as many fraction digits stay as the text implies.
  const long point = static_cast<long>(int_digits) + exponent;
  std::string whole, fraction;
  if (point <= 0) {
    whole = "0";
    fraction = std::string(static_cast<std::size_t>(-point), '0') + digits;
  } else if (static_cast<std::size_t>(point) >= digits.size()) {
    whole = digits + std::string(static_cast<std::size_t>(point) - digits.size(), '0');
  } else {
    whole = digits.substr(0, static_cast<std::size_t>(point));
    fraction = digits.substr(static_cast<std::size_t>(point));
  }
  whole.erase(0, std::min(whole.find_first_not_of('0'), whole.size() - 1));
  std::string out;
  const bool zero = digits.find_first_not_of('0') == std::string::npos;
  if (sign == "-" && !zero) out += '-';  // numeric has no negative zero
  out += whole;
  if (!fraction.empty()) out += '.' + fraction;
  return out;
}

std::optional<std::string> PlainRows::render(const po::Tuple& tuple, const po::Tuple* old, bool key_only) const {
  std::string out;
  std::size_t bytes = names_size_ + 2;
  for (const auto& v : tuple) bytes += v.data.size();
  out.reserve(bytes + bytes / 8);  // room for some escapes
  out += '{';
  for (const auto& c : columns_) {
    if (key_only && !c.key) continue;
    if (c.index >= tuple.size()) return std::nullopt;
    const po::Value* v = &tuple[c.index];
    if (v->kind == po::Value::unchanged_toast && old && c.index < old->size() && (*old)[c.index].kind == po::Value::text)
      v = &(*old)[c.index];
    if (v->kind != po::Value::null && v->kind != po::Value::text) return std::nullopt;  // from the table
    if (out.size() > 1) out += ',';
    out += c.name;
    if (v->kind == po::Value::null) {
      out += "null";
      continue;
    }
    const std::string_view t = v->data;
    switch (c.kind) {
      case Kind::number:
      case Kind::jsonb: out += t; break;
      case Kind::boolean: out += t == "t" ? "true" : "false"; break;
      case Kind::floating:
      case Kind::numeric:
        // Not a number to JSON: NaN and the infinities are strings.
        if (t == "NaN" || t == "Infinity" || t == "-Infinity") util::append_json_string(out, t);
        else if (c.kind == Kind::numeric) out += t;
        else out += float_as_numeric(t);
        break;
      case Kind::date:
      case Kind::timestamp:
      case Kind::timestamptz: {
        if (t.find(" BC") != std::string_view::npos) return std::nullopt;
        // The text needs no escaping: written as ISO 8601, as to_jsonb writes it, the date and the
        // time joined by a T, a zone as +hh:mm (PostgreSQL's ISO style writes +hh when the minutes
        // are zero).
        out += '"';
        const auto space = c.kind == Kind::date ? std::string_view::npos : t.find(' ');
        if (space == std::string_view::npos) {
          out += t;
        } else {
          out.append(t.substr(0, space)).append(1, 'T').append(t.substr(space + 1));
          const auto zone = t.find_last_of("+-");
          if (c.kind == Kind::timestamptz && zone != std::string_view::npos && zone > space &&
              t.find(':', zone) == std::string_view::npos)
            out += ":00";
        }
        out += '"';
        break;
      }
      case Kind::text: util::append_json_string(out, t); break;
    }
  }
  out += '}';
  return out;
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
