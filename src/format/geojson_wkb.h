// PostGIS's EWKB from the GeoJSON to_jsonb writes for a geometry (trigger capture and the other
// paths that render a row with to_jsonb): Debezium writes a geometry's EWKB, which a WAL pipeline
// reads from the value's text; a row captured by trigger holds its GeoJSON instead. Pure: no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace relay::debezium {

// The little-endian EWKB PostGIS writes for the geometry `geojson` describes (Point, LineString,
// Polygon, their Multi kinds, GeometryCollection; Z when positions have three numbers; the SRID of
// a "crs" named "EPSG:<n>"), or none when `geojson` is no such GeoJSON (or nests collections deeper
// than PostGIS does, 200 levels). GeoJSON keeps neither M
// values nor curves, and PostGIS writes its coordinates to 15 decimals: the EWKB holds what it kept.
std::optional<std::string> ewkb_of_geojson(std::string_view geojson);

}  // namespace relay::debezium
