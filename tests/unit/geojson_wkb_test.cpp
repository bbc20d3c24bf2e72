#include "format/geojson_wkb.h"

#include <gtest/gtest.h>

#include <string>

using relay::debezium::ewkb_of_geojson;

namespace {

// The EWKB as PostGIS's text writes it (upper-case hex), or "none".
std::string hex_ewkb(const std::string& geojson) {
  auto ewkb = ewkb_of_geojson(geojson);
  if (!ewkb) return "none";
  static const char* digits = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : *ewkb) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

}  // namespace

// Each GeoJSON is what to_jsonb writes for a geometry; each EWKB what PostGIS 3.3 writes for it.
TEST(GeoJsonWkb, EveryKindIsPostgisOwnEwkb) {
  EXPECT_EQ(hex_ewkb(R"({"crs": {"type": "name", "properties": {"name": "EPSG:4326"}}, "type": "Point", "coordinates": [13.4, 52.52]})"),
            "0101000020E6100000CDCCCCCCCCCC2A40C3F5285C8F424A40");
  EXPECT_EQ(hex_ewkb(R"({"type": "Point", "coordinates": [1, 2, 3]})"),
            "0101000080000000000000F03F00000000000000400000000000000840");
  EXPECT_EQ(hex_ewkb(R"({"type": "Point", "coordinates": []})"), "0101000000000000000000F87F000000000000F87F");
  EXPECT_EQ(hex_ewkb(R"({"crs": {"type": "name", "properties": {"name": "EPSG:3857"}}, "type": "Polygon", "coordinates": [[[0, 0], [4, 0], [4, 4], [0, 0]], [[1, 1], [2, 1], [2, 2], [1, 1]]]})"),
            "0103000020110F000002000000040000000000000000000000000000000000000000000000000010400000000000000000000000000000104000000000"
            "000010400000000000000000000000000000000004000000000000000000F03F000000000000F03F0000000000000040000000000000F03F000000000000"
            "00400000000000000040000000000000F03F000000000000F03F");
  EXPECT_EQ(hex_ewkb(R"({"type": "MultiLineString", "coordinates": [[[0, 0], [1, 1]], [[2, 2], [3, 3]]]})"),
            "01050000000200000001020000000200000000000000000000000000000000000000000000000000F03F000000000000F03F01020000000200000000000000"
            "00000040000000000000004000000000000008400000000000000840");
  EXPECT_EQ(hex_ewkb(R"({"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [1, 2, 0]}, {"type": "LineString", "coordinates": [[0, 0, 1], [1, 1, 2]]}]})"),
            "0107000080020000000101000080000000000000F03F0000000000000040000000000000000001020000800200000000000000000000000000000000000000"
            "000000000000F03F000000000000F03F000000000000F03F0000000000000040");
  EXPECT_EQ(hex_ewkb(R"({"type": "GeometryCollection", "geometries": []})"), "010700000000000000");
  EXPECT_EQ(hex_ewkb(R"({"type": "MultiPoint", "coordinates": [[1, 2, 3], [4, 5, 6]]})"),
            "0104000080020000000101000080000000000000F03F00000000000000400000000000000840010100008000000000000010400000000000001440000000"
            "0000001840");
  EXPECT_EQ(hex_ewkb(R"({"crs": {"type": "name", "properties": {"name": "EPSG:4326"}}, "type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]]]})"),
            "0106000020E6100000010000000103000000010000000400000000000000000000000000000000000000000000000000F03F00000000000000000000000000"
            "00F03F000000000000F03F00000000000000000000000000000000");
}

TEST(GeoJsonWkb, WhatIsNoGeometryIsRefused) {
  EXPECT_EQ(hex_ewkb(R"({"type": "Feature", "coordinates": [1, 2]})"), "none");
  EXPECT_EQ(hex_ewkb(R"({"type": "Point", "coordinates": [1, "2"]})"), "none");
  EXPECT_EQ(hex_ewkb(R"({"type": "Point", "coordinates": [1, 2, 3, 4]})"), "none");
  EXPECT_EQ(hex_ewkb(R"({"type": "LineString"})"), "none");
  EXPECT_EQ(hex_ewkb(R"([1, 2])"), "none");
  EXPECT_EQ(hex_ewkb(R"({"type": "LineString", "coordinates": [[0, 0], [1, 1, 1]]})"), "none");
}

// Collections nested as deep as PostGIS nests them (200 levels) convert, each header with the Z
// of its first member; each level read the levels below it again, so a few kilobytes of GeoJSON
// took the relay seconds, a hundred kilobytes hours. Deeper is no geometry PostGIS holds.
TEST(GeoJsonWkb, NestedCollectionsAsDeepAsPostgisNestsThem) {
  auto nested = [](int depth) {
    std::string g;
    for (int i = 0; i < depth; ++i) g += R"({"type": "GeometryCollection", "geometries": [)";
    g += R"({"type": "Point", "coordinates": [1, 2, 3]})";
    for (int i = 0; i < depth; ++i) g += "]}";
    return g;
  };
  auto ewkb = ewkb_of_geojson(nested(200));
  ASSERT_TRUE(ewkb.has_value());
  EXPECT_EQ(ewkb->size(), 200 * 9 + 5 + 24);
  for (int level = 0; level < 200; ++level) EXPECT_EQ(ewkb->substr(level * 9, 9), std::string("\x01\x07\x00\x00\x80\x01\x00\x00\x00", 9));
  EXPECT_EQ(hex_ewkb(nested(1)), "0107000080010000000101000080000000000000F03F00000000000000400000000000000840");
  EXPECT_EQ(hex_ewkb(nested(202)), "none");
  // A collection whose first member is 2D is 2D, whatever follows.
  EXPECT_EQ(hex_ewkb(R"({"type": "GeometryCollection", "geometries": [{"type": "GeometryCollection", "geometries": []}, )"
                     R"({"type": "Point", "coordinates": [1, 2, 3]}]})"),
            "0107000000020000000107000000000000000101000080000000000000F03F00000000000000400000000000000840");
}
