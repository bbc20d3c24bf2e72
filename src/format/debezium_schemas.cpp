// Kafka Connect schemas of column values as Debezium's JsonConverter writes them, and the
// __debezium.source.column.* parameters pgjdbc's type metadata gives.
#include <cctype>
#include <vector>

#include "format/debezium_columns.h"

namespace relay::debezium {
namespace {

// ---------------------------------------------------------------------------------------------
// Connect schemas, written as JsonConverter writes them.

struct Schema {
  std::string_view type;
  bool optional = true;
  std::string_view name;
  int version = 0;
  std::string_view doc;
  std::vector<std::pair<std::string_view, std::string>> parameters;
  std::vector<Schema> children;  // an array's items, or a struct's fields (named by `field`)
  std::string_view default_value;  // JSON text; empty: none
  std::string_view field;
};

Schema plain(std::string_view type) { return Schema{.type = type}; }
Schema named(std::string_view type, std::string_view name) { return Schema{.type = type, .name = name, .version = 1}; }
Schema required_field(std::string_view type, std::string_view field) { return Schema{.type = type, .optional = false, .field = field}; }
Schema optional_field(std::string_view type, std::string_view field) { return Schema{.type = type, .field = field}; }

void append_schema(std::string& out, const Schema& s, std::optional<std::string_view> field) {
  out += "{\"type\":\"";
  out += s.type;
  out += '"';
  if (s.type == "array") {
    out += ",\"items\":";
    append_schema(out, s.children.front(), std::nullopt);
  } else if (s.type == "map") {
    out += ",\"keys\":";
    append_schema(out, s.children[0], std::nullopt);
    out += ",\"values\":";
    append_schema(out, s.children[1], std::nullopt);
  } else if (s.type == "struct") {
    out += ",\"fields\":[";
    for (std::size_t i = 0; i < s.children.size(); ++i) {
      if (i) out += ',';
      append_schema(out, s.children[i], s.children[i].field);
    }
    out += ']';
  }
  out += s.optional ? ",\"optional\":true" : ",\"optional\":false";
  if (!s.name.empty()) {
    out += ",\"name\":\"";
    out += s.name;
    out += '"';
  }
  if (s.version) {
    out += ",\"version\":";
    util::append_int(out, s.version);
  }
  if (!s.doc.empty()) {
    out += ",\"doc\":\"";
    out += s.doc;
    out += '"';
  }
  if (!s.parameters.empty()) {
    out += ",\"parameters\":{";
    for (std::size_t i = 0; i < s.parameters.size(); ++i) {
      if (i) out += ',';
      util::append_json_string(out, s.parameters[i].first);
      out += ':';
      util::append_json_string(out, s.parameters[i].second);
    }
    out += '}';
  }
  if (!s.default_value.empty()) {
    out += ",\"default\":";
    out += s.default_value;
  }
  if (field) {
    out += ",\"field\":";
    util::append_json_string(out, *field);
  }
  out += '}';
}

Schema decimal_schema(int scale) {
  Schema s = named("bytes", "org.apache.kafka.connect.data.Decimal");
  s.parameters.emplace_back("scale", std::to_string(scale));
  return s;
}

Schema numeric_schema(const ColumnType& c) {
  switch (c.modes.decimal) {
    case DecimalHandling::double_: return plain("double");
    case DecimalHandling::string: return plain("string");
    case DecimalHandling::precise: break;
  }
  if (variable_scale(c.typmod())) {
    Schema s = named("struct", "io.debezium.data.VariableScaleDecimal");
    s.doc = "Variable scaled decimal";
    s.children = {required_field("int32", "scale"), required_field("bytes", "value")};
    return s;
  }
  Schema s = decimal_schema(numeric_scale(c.typmod()));
  s.parameters.emplace_back("connect.decimal.precision", std::to_string(numeric_precision(c.typmod())));
  return s;
}

Schema money_schema(const Modes& m) {
  switch (m.decimal) {
    case DecimalHandling::double_: return plain("double");
    case DecimalHandling::string: return plain("string");
    case DecimalHandling::precise: break;
  }
  return decimal_schema(kMoneyFractionDigits);
}

Schema date_schema(const Modes& m) {
  return m.time == TimePrecision::connect ? named("int32", "org.apache.kafka.connect.data.Date") : named("int32", "io.debezium.time.Date");
}

Schema time_schema(const ColumnType& c) {
  if (c.modes.time == TimePrecision::connect) return named("int32", "org.apache.kafka.connect.data.Time");
  return c.millis_time() ? named("int32", "io.debezium.time.Time") : named("int64", "io.debezium.time.MicroTime");
}

Schema timestamp_schema(const ColumnType& c) {
  if (c.modes.time == TimePrecision::connect) return named("int64", "org.apache.kafka.connect.data.Timestamp");
  return c.millis_timestamp() ? named("int64", "io.debezium.time.Timestamp") : named("int64", "io.debezium.time.MicroTimestamp");
}

Schema point_schema() {
  Schema s = named("struct", "io.debezium.data.geometry.Point");
  s.doc = "Geometry (POINT)";
  s.children = {required_field("double", "x"), required_field("double", "y"), optional_field("bytes", "wkb"),
                optional_field("int32", "srid")};
  return s;
}

// PostGIS's geometry and geography (Debezium 3.6's version 1: the EWKB and its SRID).
Schema postgis_schema(std::string_view name, std::string_view doc) {
  Schema s = named("struct", name);
  s.doc = doc;
  s.children = {required_field("bytes", "wkb"), optional_field("int32", "srid")};
  return s;
}

Schema kind_schema(const ColumnType& c) {
  const Modes& m = c.modes;
  switch (c.shape.kind) {
    case Kind::boolean: return plain("boolean");
    case Kind::int16: return plain("int16");
    case Kind::int32: return plain("int32");
    case Kind::int64: case Kind::oid: return plain("int64");
    case Kind::float32: return plain("float");
    case Kind::float64: return plain("double");
    case Kind::numeric: return numeric_schema(c);
    case Kind::money: return money_schema(m);
    case Kind::string: return plain("string");
    case Kind::bytea: return plain(m.binary == BinaryHandling::bytes ? "bytes" : "string");
    case Kind::date: return date_schema(m);
    case Kind::time: return time_schema(c);
    case Kind::timetz: return named("string", "io.debezium.time.ZonedTime");
    case Kind::timestamp: return timestamp_schema(c);
    case Kind::timestamptz: return named("string", "io.debezium.time.ZonedTimestamp");
    case Kind::interval:
      return m.interval == IntervalHandling::string ? named("string", "io.debezium.time.Interval")
                                                    : named("int64", "io.debezium.time.MicroDuration");
    case Kind::uuid: return named("string", "io.debezium.data.Uuid");
    case Kind::json: return named("string", "io.debezium.data.Json");
    case Kind::hstore: {
      if (m.hstore == HStoreHandling::json) return named("string", "io.debezium.data.Json");
      Schema map = plain("map");  // its keys are never null, its values may be
      map.children = {Schema{.type = "string", .optional = false}, plain("string")};
      return map;
    }
    case Kind::xml: return named("string", "io.debezium.data.Xml");
    case Kind::tsvector: return named("string", "io.debezium.data.Tsvector");
    case Kind::ltree: return named("string", "io.debezium.data.Ltree");
    case Kind::bits: {
      if (c.single_bit()) return plain("boolean");
      Schema s = named("bytes", "io.debezium.data.Bits");
      s.parameters.emplace_back("length", std::to_string(bits_length(c.base_oid(), c.typmod())));
      return s;
    }
    case Kind::enumeration: {
      Schema s = named("string", "io.debezium.data.Enum");
      s.parameters.emplace_back("allowed", std::string(c.shape.enum_labels));
      return s;
    }
    case Kind::point: return point_schema();
    case Kind::geometry: return postgis_schema("io.debezium.data.geometry.Geometry", "Geometry");
    case Kind::geography: return postgis_schema("io.debezium.data.geometry.Geography", "Geography");
    case Kind::unknown: return plain(m.binary == BinaryHandling::bytes ? "bytes" : "string");
    case Kind::omitted: break;
  }
  return plain("string");
}

}  // namespace

std::string_view schema_type(const ColumnType& c) { return kind_schema(c).type; }

void append_field_schema(const PgType& type, std::optional<std::string_view> field, bool optional, const Modes& modes,
                         std::string& out, std::string_view default_json,
                         const std::vector<std::pair<std::string_view, std::string>>& parameters) {
  ColumnType c{type, modes, shape_of(type, modes)};
  if (c.shape.kind == Kind::omitted) return;
  Schema s = kind_schema(c);
  if (c.shape.array) {
    s.optional = c.shape.element_optional;
    Schema array = plain("array");
    array.children.push_back(std::move(s));
    s = std::move(array);
  }
  // PostGIS's schemas are optional whatever the column (Debezium's Geometry.builder() says so).
  const bool postgis = !c.shape.array && (c.shape.kind == Kind::geometry || c.shape.kind == Kind::geography);
  s.optional = optional || postgis;
  s.default_value = default_json;
  s.parameters.insert(s.parameters.end(), parameters.begin(), parameters.end());
  append_schema(out, s, field);
}

namespace {

// pgjdbc's TypeInfoCache: a type's display size, precision and scale for a modifier (-1: none).
constexpr std::int64_t kUnknownLength = 2147483647;

std::int64_t jdbc_display_size(std::uint32_t type_oid, std::int32_t typmod) {
  switch (type_oid) {
    case oid::date: return 13;
    case oid::time: case oid::timetz: case oid::timestamp: case oid::timestamptz: {
      const int seconds = typmod == -1 ? 7 : typmod == 0 ? 0 : typmod == 1 ? 3 : typmod + 1;
      switch (type_oid) {
        case oid::time: return 8 + seconds;
        case oid::timetz: return 8 + seconds + 6;
        case oid::timestamp: return 13 + 1 + 8 + seconds;
        default: return 13 + 1 + 8 + seconds + 6;
      }
    }
    case oid::interval: return 49;
    case oid::numeric: {
      if (typmod == -1) return 131089;
      const int precision = numeric_precision(typmod), scale = numeric_scale(typmod);
      return 1 + precision + (scale != 0 ? 1 : 0);
    }
    default: return kUnknownLength;
  }
}

std::int64_t jdbc_precision(std::uint32_t type_oid, std::int32_t typmod) {
  switch (type_oid) {
    case oid::int2: return 5;
    case oid::oid_: case oid::int4: return 10;
    case oid::int8: return 19;
    case oid::float4: return 8;
    case oid::float8: return 17;
    case oid::numeric: return typmod == -1 ? 0 : numeric_precision(typmod);
    case oid::char_: case oid::boolean: return 1;
    case oid::bpchar: case oid::varchar: return typmod == -1 ? kUnknownLength : typmod - 4;
    case oid::date: case oid::time: case oid::timetz: case oid::interval: case oid::timestamp: case oid::timestamptz:
      return jdbc_display_size(type_oid, typmod);
    case oid::bit: return typmod;
    case oid::varbit: return typmod == -1 ? kUnknownLength : typmod;
    default: return kUnknownLength;
  }
}

std::int64_t jdbc_scale(std::uint32_t type_oid, std::int32_t typmod) {
  switch (type_oid) {
    case oid::float4: return 8;
    case oid::float8: return 17;
    case oid::numeric: return typmod == -1 ? 0 : numeric_scale(typmod);
    case oid::time: case oid::timetz: case oid::timestamp: case oid::timestamptz: return typmod == -1 ? 6 : typmod;
    case oid::interval: return typmod == -1 ? 6 : typmod & 0xFFFF;
    default: return 0;
  }
}

}  // namespace

std::vector<std::pair<std::string_view, std::string>> source_type_parameters(const PgType& type, std::string_view type_name,
                                                                             std::string_view column) {
  // An array is described by its element type, with the column's modifier.
  const std::uint32_t described = type.element != 0 && !subscriptable_scalar(type.oid) ? type.element : type.oid;
  std::int64_t length = jdbc_precision(described, type.typmod);
  if (length == 0) length = jdbc_display_size(described, type.typmod);
  std::string upper;
  for (char ch : type_name.empty() ? std::string_view(type.name) : type_name)
    upper += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return {{"__debezium.source.column.type", std::move(upper)},
          {"__debezium.source.column.length", std::to_string(length)},
          {"__debezium.source.column.scale", std::to_string(jdbc_scale(described, type.typmod))},
          {"__debezium.source.column.name", std::string(column)}};
}

}  // namespace relay::debezium
