// Format "debezium"'s column values on hostile text: a value as to_jsonb renders it (or the text the
// WAL carries for PostGIS's types and, with include_unknown_datatypes, unmapped ones), for every type
// the converter handles and arrays of them, under every handling mode; and a column's DEFAULT as
// pg_get_expr writes it. Unreadable text must give an error, never a crash. Beyond "no crash":
//  - a value that converts is valid JSON of the Connect schema its column declares (the kind each
//    schema type takes: integers in range, base64 for bytes, a struct's fields...), and the output
//    before it is kept; one that does not leaves the output as it was and says why;
//  - json and jsonb keep the document; hstore (to_jsonb's object of strings and nulls) keeps its
//    pairs, as a map or as the JSON text of one; a numeric in decimal_handling double is the
//    nearest double, Infinity past the largest (Java's BigDecimal.doubleValue);
//  - a default read from the expression is valid JSON of the column's schema, and so is the
//    schema that declares it; so are the type's zero and unavailable-value placeholder.
#include <nlohmann/json.hpp>

#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "format/debezium_types.h"
#include "fuzz_support.h"
#include "util/json_escape.h"
#include "util/json_scan.h"
#include "util/strings.h"

namespace {

using namespace relay;
using namespace relay::debezium;
using nlohmann::json;

// The types the converter tells apart: every built-in type it maps or declines, the extension types
// it knows by name, and a user enum, composite and range. pg_type's name, oid, array type's oid, typtype.
struct TypeDef {
  std::string_view name;
  std::uint32_t oid, array_oid;
  char typtype;
};
constexpr std::array kTypes = {
    TypeDef{"bool", 16, 1000, 'b'},          TypeDef{"bytea", 17, 1001, 'b'},        TypeDef{"char", 18, 1002, 'b'},
    TypeDef{"name", 19, 1003, 'b'},          TypeDef{"int8", 20, 1016, 'b'},         TypeDef{"int2", 21, 1005, 'b'},
    TypeDef{"int2vector", 22, 1006, 'b'},    TypeDef{"int4", 23, 1007, 'b'},         TypeDef{"text", 25, 1009, 'b'},
    TypeDef{"oid", 26, 1028, 'b'},           TypeDef{"xid", 28, 1011, 'b'},          TypeDef{"oidvector", 30, 1013, 'b'},
    TypeDef{"json", 114, 199, 'b'},          TypeDef{"xml", 142, 143, 'b'},          TypeDef{"point", 600, 1017, 'b'},
    TypeDef{"lseg", 601, 1018, 'b'},         TypeDef{"path", 602, 1019, 'b'},        TypeDef{"box", 603, 1020, 'b'},
    TypeDef{"polygon", 604, 1027, 'b'},      TypeDef{"line", 628, 629, 'b'},         TypeDef{"cidr", 650, 651, 'b'},
    TypeDef{"float4", 700, 1021, 'b'},       TypeDef{"float8", 701, 1022, 'b'},      TypeDef{"circle", 718, 719, 'b'},
    TypeDef{"macaddr8", 774, 775, 'b'},      TypeDef{"money", 790, 791, 'b'},        TypeDef{"macaddr", 829, 1040, 'b'},
    TypeDef{"inet", 869, 1041, 'b'},         TypeDef{"bpchar", 1042, 1014, 'b'},     TypeDef{"varchar", 1043, 1015, 'b'},
    TypeDef{"date", 1082, 1182, 'b'},        TypeDef{"time", 1083, 1183, 'b'},       TypeDef{"timestamp", 1114, 1115, 'b'},
    TypeDef{"timestamptz", 1184, 1185, 'b'}, TypeDef{"interval", 1186, 1187, 'b'},   TypeDef{"timetz", 1266, 1270, 'b'},
    TypeDef{"bit", 1560, 1561, 'b'},         TypeDef{"varbit", 1562, 1563, 'b'},     TypeDef{"numeric", 1700, 1231, 'b'},
    TypeDef{"refcursor", 1790, 2201, 'b'},   TypeDef{"regclass", 2205, 2210, 'b'},   TypeDef{"uuid", 2950, 2951, 'b'},
    TypeDef{"pg_lsn", 3220, 3221, 'b'},      TypeDef{"tsvector", 3614, 3643, 'b'},   TypeDef{"tsquery", 3615, 3645, 'b'},
    TypeDef{"jsonb", 3802, 3807, 'b'},       TypeDef{"int4range", 3904, 3905, 'r'},  TypeDef{"numrange", 3906, 3907, 'r'},
    TypeDef{"tsrange", 3908, 3909, 'r'},     TypeDef{"tstzrange", 3910, 3911, 'r'},  TypeDef{"daterange", 3912, 3913, 'r'},
    TypeDef{"int8range", 3926, 3927, 'r'},   TypeDef{"jsonpath", 4072, 4073, 'b'},   TypeDef{"int4multirange", 4451, 6150, 'm'},
    TypeDef{"mood", 16500, 16499, 'e'},      TypeDef{"pair", 16600, 16599, 'c'},     TypeDef{"floatrange", 16700, 16699, 'r'},
    TypeDef{"citext", 17000, 16999, 'b'},    TypeDef{"hstore", 17001, 17011, 'b'},   TypeDef{"ltree", 17002, 17012, 'b'},
    TypeDef{"geometry", 17003, 17013, 'b'},  TypeDef{"geography", 17004, 17014, 'b'}, TypeDef{"isbn", 17006, 17016, 'b'},
    TypeDef{"box2d", 17007, 17017, 'b'},
};
constexpr std::string_view kMoodLabels = "sad,ok,happy";

// A name not in the list still picks a type, so that every mutation reaches one.
const TypeDef& type_named(std::string_view name) {
  for (const auto& t : kTypes)
    if (t.name == name) return t;
  std::size_t h = 0;
  for (unsigned char c : name) h = h * 31 + c;
  return kTypes[h % kTypes.size()];
}

// The atttypmod PostgreSQL gives a column whose type is written with the modifier `text` ("10,2",
// "3"); -1 without one, or when PostgreSQL would refuse it.
std::int32_t typmod_of(std::uint32_t oid, std::string_view text) {
  std::int64_t a = 0, b = 0;
  std::size_t comma = text.find(',');
  auto number = [](std::string_view s, std::int64_t& v) {
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    return !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size();
  };
  if (!number(text.substr(0, comma), a)) return -1;
  bool two = comma != std::string_view::npos;
  if (two && !number(text.substr(comma + 1), b)) return -1;
  switch (oid) {
    case 1700:  // numeric(p[,s]): PostgreSQL 15 takes scales from -1000 to 1000
      if (a < 1 || a > 1000 || b < -1000 || b > 1000) return -1;
      return static_cast<std::int32_t>(((a << 16) | (b & 0x7ff)) + 4);
    case 1042: case 1043:  // char(n), varchar(n)
      return !two && a >= 1 && a <= 10485760 ? static_cast<std::int32_t>(a + 4) : -1;
    case 1560: case 1562:  // bit(n), varbit(n)
      return !two && a >= 1 && a <= 83886080 ? static_cast<std::int32_t>(a) : -1;
    case 1083: case 1266: case 1114: case 1184:  // time(p) and its kin
      return !two && a >= 0 && a <= 6 ? static_cast<std::int32_t>(a) : -1;
    case 1186:  // interval(p), every field
      return !two && a >= 0 && a <= 6 ? static_cast<std::int32_t>((0x7FFF << 16) | a) : -1;
    default: return -1;
  }
}

PgType pg_type_of(std::string_view name, std::string_view modifier) {
  bool array = name.size() > 1 && name[0] == '_';
  const TypeDef& def = type_named(array ? name.substr(1) : name);
  PgType t;
  t.typmod = typmod_of(def.oid, modifier);
  std::string_view labels = def.typtype == 'e' ? kMoodLabels : std::string_view();
  if (!array) {
    t.oid = def.oid;
    t.typtype = def.typtype;
    t.name = def.name;
    t.enum_labels = labels;
    return t;
  }
  t.oid = def.array_oid;
  t.name = "_" + std::string(def.name);
  t.element = def.oid;
  t.element_typtype = def.typtype;
  t.element_name = def.name;
  t.element_enum_labels = labels;
  return t;
}

bool valid_json(std::string_view s) { return util::valid_text(s) && json::accept(s); }

// The parsed document, or null when the strict parser refuses it (numbers beyond a double are
// JSON, which jsonb keeps as numeric, but the strict parser throws on them).
std::optional<json> parsed(std::string_view s) {
  if (!valid_json(s)) return std::nullopt;
  try {
    return json::parse(s);
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

bool base64(const std::string& s) {
  if (s.size() % 4) return false;
  std::size_t pad = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (c == '=' && i + 2 >= s.size()) ++pad;
    else if (!letter || pad) return false;
  }
  return true;
}

// Whether `v` is a value JsonConverter takes for Connect schema `s`; `why` says where it is not.
// An array's elements may be null (PostgreSQL's arrays hold NULLs, which Debezium keeps).
bool conforms(const json& s, const json& v, std::string& why, bool nullable) {
  auto fail = [&](const char* what) {
    why = std::string(what) + ": " + v.dump() + " for " + s.dump();
    return false;
  };
  if (v.is_null()) return nullable || s.value("optional", true) ? true : fail("null where the schema is required");
  const std::string type = s.at("type");
  const std::string name = s.value("name", "");
  auto integer_in = [&](std::int64_t lo, std::int64_t hi) {
    if (v.is_number_unsigned()) return v.get<std::uint64_t>() <= static_cast<std::uint64_t>(hi);
    return v.is_number_integer() && v.get<std::int64_t>() >= lo && v.get<std::int64_t>() <= hi;
  };
  if (type == "boolean") return v.is_boolean() ? true : fail("not a boolean");
  if (type == "int8") return integer_in(INT8_MIN, INT8_MAX) ? true : fail("not an int8");
  if (type == "int16") return integer_in(INT16_MIN, INT16_MAX) ? true : fail("not an int16");
  if (type == "int32") {
    // A date's days fit an int32 for the years PostgreSQL holds (to 5874897); the reader takes
    // any year of up to nine digits, which only hand-written text has.
    if (name.ends_with(".Date")) return v.is_number_integer() ? true : fail("not an integer");
    return integer_in(INT32_MIN, INT32_MAX) ? true : fail("not an int32");
  }
  if (type == "int64") return integer_in(INT64_MIN, INT64_MAX) ? true : fail("not an int64");
  if (type == "float" || type == "double") {
    if (v.is_number()) return true;
    return v.is_string() && (v == "NaN" || v == "Infinity" || v == "-Infinity") ? true : fail("not a number");
  }
  if (type == "string") return v.is_string() ? true : fail("not a string");
  if (type == "bytes") return v.is_string() && base64(v.get<std::string>()) ? true : fail("not base64 bytes");
  if (type == "array") {
    if (!v.is_array()) return fail("not an array");
    for (const auto& e : v)
      if (!conforms(s.at("items"), e, why, true)) return false;
    return true;
  }
  if (type == "map") {
    if (!v.is_object()) return fail("not a map");
    for (const auto& [k, e] : v.items())
      if (!conforms(s.at("values"), e, why, false)) return false;
    return true;
  }
  if (type == "struct") {
    if (!v.is_object()) return fail("not a struct");
    std::size_t known = 0;
    for (const auto& f : s.at("fields")) {
      const std::string field = f.at("field");
      if (!v.contains(field)) {
        if (!f.value("optional", true)) return fail("a required field is missing");
        continue;
      }
      ++known;
      if (!conforms(f, v.at(field), why, false)) return false;
    }
    return known == v.size() ? true : fail("a field the schema does not name");
  }
  return fail("a schema type this check does not know");
}

// The value's schema as the column declares it (optional), parsed; null for an omitted type.
json schema_of(const PgType& type, const Modes& modes) {
  std::string s;
  append_field_schema(type, std::nullopt, true, modes, s);
  if (s.empty()) return nullptr;
  FUZZ_CHECK(valid_json(s), "a field's schema is valid JSON");
  return json::parse(s);
}

void check_conforms(const json& schema, std::string_view value, const char* what) {
  std::optional<json> v = parsed(value);
  if (!v) std::fprintf(stderr, "%s: %.*s\n", what, static_cast<int>(value.size()), value.data());
  FUZZ_CHECK(v, "a value is valid JSON");
  std::string why;
  if (!conforms(schema, *v, why, false)) {
    std::fprintf(stderr, "%s: %s\n", what, why.c_str());
    FUZZ_CHECK(false, "a value is of its column's Connect schema");
  }
}

// The object's values are all strings or null: what to_jsonb writes for an hstore.
bool hstore_like(const json& v) {
  if (!v.is_object()) return false;
  for (const auto& [k, e] : v.items())
    if (!e.is_string() && !e.is_null()) return false;
  return true;
}

}  // namespace

// Input fields: the type as pg_type names it ("numeric", "hstore", "geometry"; "_int4" an array of
// int4; "mood" an enum, "pair" a composite, "floatrange" a user's range; another name picks a type by
// its hash), flags, the type modifier as SQL writes it ("10,2", "3"), the value as to_jsonb renders
// it (with flag T: as text, which the target writes as a JSON string), then a column DEFAULT as
// pg_get_expr writes it. Flags: decimal_handling d double, s string; time_precision c connect, a
// adaptive_time_microseconds; binary_handling b base64, u base64_url_safe, h hex; i interval_handling
// string; M hstore_handling map; U include_unknown_datatypes; D the column's type is a domain;
// R the column is NOT NULL.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Fields in({reinterpret_cast<const char*>(data), size});
  std::string_view flags = in[1];
  auto flag = [&](char c) { return flags.find(c) != std::string_view::npos; };
  Modes modes;
  if (flag('d')) modes.decimal = DecimalHandling::double_;
  if (flag('s')) modes.decimal = DecimalHandling::string;
  if (flag('c')) modes.time = TimePrecision::connect;
  if (flag('a')) modes.time = TimePrecision::adaptive_time_microseconds;
  if (flag('b')) modes.binary = BinaryHandling::base64;
  if (flag('u')) modes.binary = BinaryHandling::base64_url_safe;
  if (flag('h')) modes.binary = BinaryHandling::hex;
  if (flag('i')) modes.interval = IntervalHandling::string;
  if (flag('M')) modes.hstore = HStoreHandling::map;
  modes.include_unknown = flag('U');
  const PgType type = pg_type_of(in[0], in[2]);
  const bool omit = omitted(type, modes);

  // What the column declares, whatever its value.
  const json schema = schema_of(type, modes);
  FUZZ_CHECK(schema.is_null() == omit, "a schema for each type Debezium maps, none for one it omits");
  {
    std::string s;
    append_field_schema(type, "c", !flag('R'), modes, s);
    FUZZ_CHECK(s.empty() == omit && (omit || valid_json(s)), "a column's field schema is valid JSON");
    std::string zero, unavailable;
    append_zero(type, modes, zero);
    append_unavailable(type, modes, unavailable);
    FUZZ_CHECK(zero.empty() == omit && unavailable.empty() == omit, "a zero and a placeholder for each type Debezium maps");
    if (!omit) {
      check_conforms(schema, zero, "the type's zero");
      check_conforms(schema, unavailable, "the unavailable-value placeholder");
    }
    (void)source_type_parameters(type, in[0], "c");
  }

  // The value.
  std::string value;
  if (flag('T')) util::append_json_string(value, in[3]);
  else value = in[3];
  // Text PostgreSQL could have rendered: UTF-8 JSON (numbers of any size, as jsonb's numeric); for
  // an hstore, an object of strings and nulls (the converter passes an object's values through).
  const std::optional<json> in_json = parsed(value);
  const bool realistic = util::valid_text(value) && json_scan::valid(value) &&
                         (type.name != "hstore" || value == "null" || (in_json && hstore_like(*in_json)));
  const std::string before = "[1,";
  std::string out = before, error;
  const bool ok = append_value(type, value, modes, out, error);
  FUZZ_CHECK(out.compare(0, before.size(), before) == 0, "what the output held is kept");
  if (!ok) {
    FUZZ_CHECK(out == before, "a value that does not convert leaves the output as it was");
    FUZZ_CHECK(!error.empty(), "a value that does not convert says why");
    FUZZ_CHECK(!omit || error.find("does not map") != std::string::npos, "an omitted type's error says so");
  } else if (realistic) {
    FUZZ_CHECK(!omit, "an omitted type converts nothing");
    std::string_view written = std::string_view(out).substr(before.size());
    check_conforms(schema, written, "the value");
    const json out_json = json::parse(written);
    const std::string_view base = type.name;
    if ((base == "json" || base == "jsonb") && in_json && !in_json->is_null()) {
      std::optional<json> doc = parsed(out_json.get<std::string>());
      FUZZ_CHECK(doc && *doc == *in_json, "json and jsonb keep the document");
    }
    if (base == "hstore" && in_json && !in_json->is_null()) {
      std::optional<json> pairs = modes.hstore == HStoreHandling::map ? out_json : parsed(out_json.get<std::string>());
      FUZZ_CHECK(pairs && *pairs == *in_json, "an hstore keeps its pairs");
    }
    if (base == "numeric" && modes.decimal == DecimalHandling::double_ && json_scan::kind(value) == 'n') {
      // The nearest double of the decimal text; beyond the largest double, Java's Infinity.
      double expected = std::strtod(value.c_str(), nullptr);
      bool same = std::isinf(expected) ? out_json == (expected > 0 ? "Infinity" : "-Infinity")
                                       : out_json.is_number() && out_json.get<double>() == expected;
      if (!same) std::fprintf(stderr, "numeric %s as %s\n", value.c_str(), out_json.dump().c_str());
      FUZZ_CHECK(same, "a numeric as a double is its nearest double");
    }
  }

  // The column's DEFAULT.
  std::string_view expression = in[4];
  std::optional<std::string> def = default_value(type, flag('D'), expression, modes);
  if (def && util::valid_text(expression)) {  // pg_get_expr's text is UTF-8
    FUZZ_CHECK(!omit && !flag('D'), "no default for a domain or an omitted type");
    check_conforms(schema, *def, "a default");
    std::string s;
    append_field_schema(type, "c", true, modes, s, *def);
    FUZZ_CHECK(valid_json(s), "the schema declaring a default is valid JSON");
  }
  return 0;
}
