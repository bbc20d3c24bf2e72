// Column values and their Kafka Connect schemas as the Debezium PostgreSQL connector writes them
// through Kafka's JsonConverter, per its data type mappings and handling modes. The relay reads a
// row as to_jsonb renders it (trigger capture, the WAL's rows, backfill alike) and knows each
// column's type from the catalog, so each value is converted from to_jsonb's text. Pure: no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/debezium_modes.h"

namespace relay::debezium {

// Debezium's unavailable.value.placeholder: what its events hold for a TOASTed value an UPDATE left
// unchanged, which the WAL does not carry.
inline constexpr std::string_view kUnavailablePlaceholder = "__debezium_unavailable_value";

// PostGIS's types, which Debezium recognises by name and reads from their text (hex EWKB): the
// row a Debezium pipeline reads carries their text, not to_jsonb's GeoJSON.
inline constexpr std::string_view kGeometryType = "geometry";
inline constexpr std::string_view kGeographyType = "geography";

// A column's type as pg_type describes it, a domain resolved to its base type.
struct PgType {
  std::uint32_t oid = 0;      // the base type's oid (an array's own oid, e.g. 1007 for int4[])
  std::int32_t typmod = -1;   // atttypmod, or the domain's typtypmod; -1 when none
  char typtype = 'b';         // pg_type.typtype of the base: b, e (enum), r (range), m (multirange), c (composite)
  std::uint32_t element = 0;  // an array's element type, a domain resolved (0: not an array)
  char element_typtype = 'b';
  std::string name;           // pg_type.typname of the base (named in errors and for unknown types)
  std::string enum_labels;    // an enum's labels in order, comma-separated (io.debezium.data.Enum's "allowed")
  std::string element_name;   // an array's element type: its typname and enum labels
  std::string element_enum_labels;
};

// Appends the JSON value Debezium writes for a column of `type` whose value to_jsonb rendered as
// `json` ("null" for NULL). Returns false, with `error` naming the value and the type, when the
// text cannot be read as that type, when Debezium has no form for the value (numeric NaN or
// Infinity as a precise Decimal) or when the type is omitted(); `out` is then left as it was.
bool append_value(const PgType& type, std::string_view json, const Modes& modes, std::string& out, std::string& error);

// Appends the value Debezium writes for an unchanged TOASTed value it could not read
// (`__debezium_unavailable_value`, in the form the column's type takes: bytes base64-encoded...);
// null where Debezium has no placeholder of the column's type. Nothing for an omitted() type.
void append_unavailable(const PgType& type, const Modes& modes, std::string& out);

// Appends the Connect schema of a field of `type`, its keys in JsonConverter's order:
// {"type":…[,"items":{…}|,"fields":[…]],"optional":…[,"name":…,"version":…,"doc":…,"parameters":{…}]
// [,"default":<default_json>],"field":"<field>"}, without "field" when `field` is nullopt (a
// record's whole key or value). Nothing for an omitted() type.
// `parameters` go after the type's own (source_type_parameters).
void append_field_schema(const PgType& type, std::optional<std::string_view> field, bool optional, const Modes& modes,
                         std::string& out, std::string_view default_json = {},
                         const std::vector<std::pair<std::string_view, std::string>>& parameters = {});

// The parameters Debezium's column.propagate.source.type gives a column of `type` whose own type is
// named `type_name` (a domain's name, an array's "_int4"): __debezium.source.column.type (the name
// upper-cased), .length and .scale (as pgjdbc's TypeInfoCache gives them for the type and its
// modifier, which Debezium's streaming reads from the WAL's description of the table) and .name.
std::vector<std::pair<std::string_view, std::string>> source_type_parameters(const PgType& type, std::string_view type_name,
                                                                             std::string_view column);

// Appends the value Debezium gives a NOT NULL column that has no value in the change (the columns
// of a DELETE's `before` beyond the replica identity) and no default: the type's zero (0, false,
// "", the epoch, an empty array). Nothing for an omitted() type.
void append_zero(const PgType& type, const Modes& modes, std::string& out);

// The default Debezium declares for a column of `type` (a `domain` column: none) whose DEFAULT
// pg_get_expr writes as `expression`: a literal's value, converted as a value of the column; for
// a function's call or CURRENT_TIMESTAMP and its kin, the type's placeholder (0, "", the epoch);
// nothing for another expression or type. The text is read, never evaluated.
std::optional<std::string> default_value(const PgType& type, bool domain, std::string_view expression, const Modes& modes);

// Whether Debezium leaves a column of `type` out of its events: a type it does not map, with its
// include.unknown.datatypes off (modes.include_unknown), and arrays it declines.
bool omitted(const PgType& type, const Modes& modes);

}  // namespace relay::debezium
