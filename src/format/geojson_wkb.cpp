#include "format/geojson_wkb.h"

#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "util/json_scan.h"

namespace relay::debezium {

namespace js = json_scan;

namespace {

constexpr std::uint32_t kZFlag = 0x80000000u;     // EWKB: positions have a Z
constexpr std::uint32_t kSridFlag = 0x20000000u;  // EWKB: the SRID follows the type
constexpr int kMaxDepth = 200;                    // PostGIS's LW_PARSER_MAX_DEPTH: collections nest no deeper

class EwkbWriter {
 public:
  std::string out;

  // A geometry with its header; `srid` only on the outermost one. `z` is set to whether its
  // positions have a Z.
  bool geometry(std::string_view g, std::optional<std::int32_t> srid, bool& z, int depth = 0) {
    std::string_view type, body;
    if (depth > kMaxDepth || js::kind(g) != '{' || !js::field(g, "type", type)) return false;
    const std::uint32_t code = type == "\"Point\"" ? 1 : type == "\"LineString\"" ? 2 : type == "\"Polygon\"" ? 3
                               : type == "\"MultiPoint\"" ? 4 : type == "\"MultiLineString\"" ? 5
                               : type == "\"MultiPolygon\"" ? 6 : type == "\"GeometryCollection\"" ? 7 : 0;
    if (code == 0) return false;
    const bool collection = code == 7;
    if (!js::field(g, collection ? "geometries" : "coordinates", body) || js::kind(body) != '[') return false;
    // A collection's Z is its first member's, set in its header once that member is written (read
    // again at each level, nested collections would take time cubic in their depth).
    z = !collection && has_z(g);
    const std::size_t type_at = out.size() + 1;
    out += '\x01';  // little-endian
    put32(code | (z ? kZFlag : 0) | (srid ? kSridFlag : 0));
    if (srid) put32(static_cast<std::uint32_t>(*srid));
    switch (code) {
      case 1: return point(body, z);
      case 2: return positions(body, z);
      case 3: return rings(body, z);
      case 4: case 5: case 6: {
        // The members of a Multi kind are whole geometries of the single kind, each with a header.
        const std::uint32_t member = code - 3;
        return counted(body, [&](std::string_view e) {
          out += '\x01';
          put32(member | (z ? kZFlag : 0));
          return member == 1 ? point(e, z) : member == 2 ? positions(e, z) : rings(e, z);
        });
      }
      default: {
        bool first = true;
        return counted(body, [&](std::string_view e) {
          bool member_z = false;
          if (!geometry(e, std::nullopt, member_z, depth + 1)) return false;
          if (first && member_z) {
            out[type_at + 3] = static_cast<char>(out[type_at + 3] | kZFlag >> 24);  // the flag's byte, little-endian
            z = true;
          }
          first = false;
          return true;
        });
      }
    }
  }

 private:
  void put32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out += static_cast<char>(v >> (8 * i) & 0xFF);
  }
  void put_double(double d) {
    std::uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    for (int i = 0; i < 8; ++i) out += static_cast<char>(bits >> (8 * i) & 0xFF);
  }

  // Whether the geometry's positions have a Z: its first position's, as PostGIS gives every part
  // of a geometry the same dimensions.
  static bool has_z(std::string_view g) {
    std::string_view body;
    return js::field(g, "coordinates", body) && dimensions(body) == 3;
  }

  // The numbers in the first position found: 2 or 3 (2 when there is none).
  static int dimensions(std::string_view coordinates) {
    std::string_view v = coordinates;
    while (js::kind(v) == '[') {
      std::string_view first;
      int n = 0;
      js::each_element(v, [&](std::string_view e) {
        if (n++ == 0) first = e;
      });
      if (n == 0) return 2;
      if (js::kind(first) == 'n') return n;
      v = first;
    }
    return 2;
  }

  // An array of elements, each written by `f`, after their count.
  template <class F>
  bool counted(std::string_view array, F&& f) {
    std::vector<std::string_view> elements;
    if (!js::each_element(array, [&](std::string_view e) { elements.push_back(e); })) return false;
    put32(static_cast<std::uint32_t>(elements.size()));
    for (auto e : elements)
      if (!f(e)) return false;
    return true;
  }

  // A position's numbers; an empty point is NaN in each dimension, as PostGIS writes POINT EMPTY.
  bool point(std::string_view position, bool z) {
    std::vector<double> xyz;
    bool numbers = true;
    bool array = js::each_element(position, [&](std::string_view e) {
      double d = 0;
      auto r = std::from_chars(e.data(), e.data() + e.size(), d);
      if (js::kind(e) != 'n' || r.ptr != e.data() + e.size()) numbers = false;
      xyz.push_back(d);
    });
    if (!array || !numbers) return false;
    const std::size_t dims = z ? 3 : 2;
    if (xyz.empty()) xyz.assign(dims, std::numeric_limits<double>::quiet_NaN());
    if (xyz.size() != dims) return false;
    for (double d : xyz) put_double(d);
    return true;
  }
  bool positions(std::string_view array, bool z) {
    return counted(array, [&](std::string_view e) { return point(e, z); });
  }
  bool rings(std::string_view array, bool z) {
    return counted(array, [&](std::string_view e) { return positions(e, z); });
  }
};

// The SRID a GeoJSON's "crs" names ("EPSG:4326", or PostGIS's long form "urn:ogc:def:crs:EPSG::4326").
std::optional<std::int32_t> srid_of(std::string_view geojson) {
  std::string_view crs, properties, name;
  if (!js::field(geojson, "crs", crs) || !js::field(crs, "properties", properties) || !js::field(properties, "name", name) ||
      js::kind(name) != '"')
    return std::nullopt;
  std::string_view text = name.substr(1, name.size() - 2);
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::int32_t srid = 0;
  auto digits = text.substr(colon + 1);
  auto r = std::from_chars(digits.data(), digits.data() + digits.size(), srid);
  if (r.ec != std::errc() || r.ptr != digits.data() + digits.size()) return std::nullopt;
  return srid;
}

}  // namespace

std::optional<std::string> ewkb_of_geojson(std::string_view geojson) {
  EwkbWriter w;
  bool z = false;
  if (!w.geometry(geojson, srid_of(geojson), z)) return std::nullopt;
  return std::move(w.out);
}

}  // namespace relay::debezium
