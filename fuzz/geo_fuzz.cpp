// PostGIS's values for format "debezium" on hostile input: the GeoJSON to_jsonb writes for a
// geometry captured by trigger (made EWKB again, ewkb_of_geojson), the hex EWKB a WAL pipeline reads
// from the value's text, and the text of a geometry[] (EWKB joined by ':'). Beyond "no crash":
//  - the EWKB made from a GeoJSON reads back (by the reader below, written from PostGIS's format)
//    as the same geometry: kinds, counts, positions and their numbers, the SRID of its "crs" on the
//    outermost header only, the Z flag as its positions have three numbers; a GeoJSON of the seven
//    kinds whose positions all have two numbers, or all three, converts; the EWKB is at most ten
//    bytes per byte of GeoJSON (no large allocation from a small input);
//  - the Debezium value ({"wkb": base64, "srid"}) holds exactly the EWKB and the SRID its header
//    names; hex that reads back as a whole EWKB geometry converts; an array's text gives an array
//    of such values and nulls.
#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "format/debezium_types.h"
#include "format/geojson_wkb.h"
#include "fuzz_support.h"
#include "util/json_escape.h"
#include "util/strings.h"

namespace {

using namespace relay;
using namespace relay::debezium;
using nlohmann::json;

constexpr std::uint32_t kZFlag = 0x80000000u, kMFlag = 0x40000000u, kSridFlag = 0x20000000u;

// ---- EWKB, read as PostGIS writes it -----------------------------------------------------------

struct Reader {
  std::string_view b;
  std::size_t i = 0;
  bool little = true;

  bool u32(std::uint32_t& v) {
    if (b.size() - i < 4) return false;
    v = 0;
    for (int k = 0; k < 4; ++k) v |= static_cast<std::uint32_t>(static_cast<std::uint8_t>(b[i + (little ? k : 3 - k)])) << (8 * k);
    i += 4;
    return true;
  }
  bool f64(double& d) {
    if (b.size() - i < 8) return false;
    std::uint64_t bits = 0;
    for (int k = 0; k < 8; ++k) bits |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(b[i + (little ? k : 7 - k)])) << (8 * k);
    std::memcpy(&d, &bits, sizeof d);
    i += 8;
    return true;
  }
};

// A geometry as read: its kind (1-7), dimensions, SRID, and its parts as GeoJSON would nest them
// (a position an array of numbers, an empty position [] where all its numbers are NaN).
struct Geometry {
  std::uint32_t kind = 0;
  bool z = false;
  std::optional<std::int32_t> srid;
  json coordinates;              // kinds 1-6: as GeoJSON's "coordinates"
  std::vector<Geometry> members;  // kind 7
};

bool read_geometry(Reader& r, Geometry& g, int depth);

bool read_position(Reader& r, bool z, json& out) {
  double xyz[3];
  int n = z ? 3 : 2;
  bool all_nan = true;
  for (int k = 0; k < n; ++k) {
    if (!r.f64(xyz[k])) return false;
    all_nan = all_nan && std::isnan(xyz[k]);
  }
  out = json::array();
  if (!all_nan)
    for (int k = 0; k < n; ++k) out.push_back(xyz[k]);
  return true;
}

// A count followed by that many parts; each part needs at least `min_part` bytes, so a count the
// bytes cannot hold is refused before anything is reserved.
template <class F>
bool read_counted(Reader& r, std::size_t min_part, json& out, F&& part) {
  std::uint32_t n;
  if (!r.u32(n) || n > (r.b.size() - r.i) / min_part) return false;
  out = json::array();
  for (std::uint32_t k = 0; k < n; ++k) {
    json p;
    if (!part(p)) return false;
    out.push_back(std::move(p));
  }
  return true;
}

bool read_header(Reader& r, std::uint32_t& kind, bool& z, std::optional<std::int32_t>& srid) {
  if (r.i >= r.b.size()) return false;
  const char order = r.b[r.i++];
  if (order != 0 && order != 1) return false;
  r.little = order == 1;
  std::uint32_t type;
  if (!r.u32(type) || (type & kMFlag)) return false;
  z = type & kZFlag;
  kind = type & 0x0FFFFFFFu;
  if (type & kSridFlag) {
    std::uint32_t s;
    if (!r.u32(s)) return false;
    srid = static_cast<std::int32_t>(s);
  }
  return kind >= 1 && kind <= 7;
}

bool read_geometry(Reader& r, Geometry& g, int depth) {
  if (depth > 200 || !read_header(r, g.kind, g.z, g.srid)) return false;
  const bool z = g.z;
  const std::size_t position = z ? 24 : 16;
  auto positions = [&](json& out) { return read_counted(r, position, out, [&](json& p) { return read_position(r, z, p); }); };
  auto rings = [&](json& out) { return read_counted(r, 4, out, positions); };
  switch (g.kind) {
    case 1: return read_position(r, z, g.coordinates);
    case 2: return positions(g.coordinates);
    case 3: return rings(g.coordinates);
    case 4: case 5: case 6:
      // Members are whole geometries of the single kind, of the same dimensions, without SRID.
      return read_counted(r, 9, g.coordinates, [&](json& out) {
        Geometry m;
        if (!read_geometry(r, m, depth + 1) || m.kind != g.kind - 3 || m.z != z || m.srid) return false;
        out = std::move(m.coordinates);
        return true;
      });
    default: {
      std::uint32_t n;
      if (!r.u32(n) || n > (r.b.size() - r.i) / 9) return false;
      for (std::uint32_t k = 0; k < n; ++k) {
        Geometry m;
        if (!read_geometry(r, m, depth + 1) || m.srid) return false;
        g.members.push_back(std::move(m));
      }
      return true;
    }
  }
}

// The whole of `bytes` as one geometry.
std::optional<Geometry> read_ewkb(std::string_view bytes) {
  Reader r{bytes};
  Geometry g;
  if (!read_geometry(r, g, 0) || r.i != bytes.size()) return std::nullopt;
  return g;
}

// ---- GeoJSON, as the strict parser reads it ----------------------------------------------------

// Refuses documents with a key twice in an object (jsonb keeps one; readers differ on which).
struct NoDuplicateKeys : nlohmann::json_sax<json> {
  std::vector<std::set<std::string>> objects;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    objects.emplace_back();
    return true;
  }
  bool key(string_t& k) override { return objects.back().insert(k).second; }
  bool end_object() override {
    objects.pop_back();
    return true;
  }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
};

// A GeoJSON as to_jsonb writes one: UTF-8, no key twice, no escape in a string (PostGIS writes
// none; "P\u006fint" is a Point to the strict parser and no kind to the converter, which reads
// the kinds as written, as it reads them from jsonb's output).
std::optional<json> parsed(std::string_view s) {
  if (!util::valid_text(s) || s.find('\\') != std::string_view::npos) return std::nullopt;
  NoDuplicateKeys sax;
  try {
    if (!json::sax_parse(s, &sax)) return std::nullopt;
    return json::parse(s);
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

std::uint32_t kind_of(const json& g) {
  static const char* kinds[] = {"Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon",
                                "GeometryCollection"};
  if (!g.is_object() || !g.contains("type")) return 0;
  for (std::uint32_t k = 0; k < 7; ++k)
    if (g.at("type") == kinds[k]) return k + 1;
  return 0;
}

// How deep positions nest in a kind's coordinates (a Point's coordinates are a position).
int nesting(std::uint32_t kind) { return kind == 1 ? 0 : kind == 2 || kind == 4 ? 1 : kind == 3 || kind == 5 ? 2 : 3; }

// Whether `coordinates` is `depth` levels of arrays above positions of `dims` numbers.
bool uniform(const json& c, int depth, int dims) {
  if (!c.is_array()) return false;
  if (depth == 0) {
    if (static_cast<int>(c.size()) != dims) return false;
    for (const auto& n : c)
      if (!n.is_number()) return false;
    return true;
  }
  for (const auto& e : c)
    if (!uniform(e, depth - 1, dims)) return false;
  return true;
}

// A geometry of the seven kinds whose every position has `dims` numbers: one PostGIS writes.
bool plain_geometry(const json& g, int dims, int depth = 0) {
  std::uint32_t kind = kind_of(g);
  if (kind == 0 || depth > 50) return false;
  if (kind == 7) {
    if (!g.contains("geometries") || !g.at("geometries").is_array()) return false;
    for (const auto& m : g.at("geometries"))
      if (!plain_geometry(m, dims, depth + 1)) return false;
    return true;
  }
  return g.contains("coordinates") && uniform(g.at("coordinates"), nesting(kind), dims);
}

// Positions equal, number for number (NaN for an empty position's).
bool same_coordinates(const json& from_ewkb, const json& geojson) {
  if (!geojson.is_array() || !from_ewkb.is_array() || from_ewkb.size() != geojson.size()) return false;
  for (std::size_t k = 0; k < geojson.size(); ++k) {
    const json& a = from_ewkb[k];
    const json& b = geojson[k];
    if (b.is_number()) {
      if (!a.is_number() || a.get<double>() != b.get<double>()) return false;
    } else if (!same_coordinates(a, b)) {
      return false;
    }
  }
  return true;
}

// The EWKB's geometry is the GeoJSON's.
bool same_geometry(const Geometry& g, const json& geojson) {
  if (g.kind != kind_of(geojson)) return false;
  if (g.kind != 7) return same_coordinates(g.coordinates, geojson.at("coordinates"));
  const json& members = geojson.at("geometries");
  if (members.size() != g.members.size()) return false;
  for (std::size_t k = 0; k < members.size(); ++k)
    if (!same_geometry(g.members[k], members[k])) return false;
  return true;
}

// Every header's Z flag as its positions have three numbers (an empty position has as many as its
// geometry's flag says).
bool z_matches(const Geometry& g, bool z) {
  if (g.z != z) return false;
  for (const auto& m : g.members)
    if (!z_matches(m, z)) return false;
  return true;
}

// The SRID a "crs" names: the integer after its name's last ':'.
std::optional<std::int32_t> crs_srid(const json& g) {
  if (!g.contains("crs") || !g.at("crs").is_object() || !g.at("crs").contains("properties")) return std::nullopt;
  const json& p = g.at("crs").at("properties");
  if (!p.is_object() || !p.contains("name") || !p.at("name").is_string()) return std::nullopt;
  std::string name = p.at("name");
  std::size_t colon = name.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string digits = name.substr(colon + 1);
  std::int32_t srid = 0;
  auto r = std::from_chars(digits.data(), digits.data() + digits.size(), srid);
  if (r.ec != std::errc() || r.ptr != digits.data() + digits.size()) return std::nullopt;
  return srid;
}

// ---- Debezium's value --------------------------------------------------------------------------

std::optional<std::string> unbase64(const std::string& s) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
  };
  if (s.size() % 4) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < s.size(); i += 4) {
    int v[4], pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s[i + k];
      if (c == '=' && i + 4 == s.size() && k >= 2) {
        v[k] = 0;
        ++pad;
      } else if ((v[k] = value(c)) < 0 || pad) {
        return std::nullopt;
      }
    }
    std::uint32_t n = static_cast<std::uint32_t>(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
    out += static_cast<char>(n >> 16);
    if (pad < 2) out += static_cast<char>(n >> 8 & 0xFF);
    if (pad < 1) out += static_cast<char>(n & 0xFF);
  }
  return out;
}

// The SRID the header names, read as Debezium's PostgisGeometry reads it.
std::optional<std::int32_t> header_srid(std::string_view ewkb) {
  Reader r{ewkb, 1, ewkb[0] != 0};
  std::uint32_t type, srid;
  r.u32(type);
  if (!(type & kSridFlag)) return std::nullopt;
  r.u32(srid);
  return static_cast<std::int32_t>(srid);
}

// A value Debezium writes for a geometry: {"wkb": <the EWKB, base64>, "srid": <its header's, or null>}.
void check_value(const json& v, std::optional<std::string_view> ewkb) {
  FUZZ_CHECK(v.is_object() && v.size() == 2 && v.contains("wkb") && v.contains("srid") && v["wkb"].is_string(),
             "a geometry is {\"wkb\", \"srid\"}");
  std::optional<std::string> bytes = unbase64(v["wkb"]);
  FUZZ_CHECK(bytes && bytes->size() >= 9, "the wkb is base64 of an EWKB header at least");
  if (ewkb) FUZZ_CHECK(*bytes == *ewkb, "the wkb is the EWKB");
  std::optional<std::int32_t> srid = header_srid(*bytes);
  FUZZ_CHECK(srid ? v["srid"].is_number_integer() && v["srid"].get<std::int32_t>() == *srid : v["srid"].is_null(),
             "the srid is the one the EWKB's header names");
}

PgType postgis_type(bool geography, bool array) {
  PgType t;
  std::string name(geography ? kGeographyType : kGeometryType);
  t.oid = geography ? 17004 : 17003;
  t.name = name;
  if (array) {
    t.element = t.oid;
    t.oid += 10;
    t.name = "_" + name;
    t.element_name = name;
  }
  return t;
}

std::string hex(std::string_view bytes) {
  static const char* digits = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

// Converts `json_value` as a value of the column; the value written, or none with an error.
std::optional<json> converted(const PgType& type, std::string_view json_value) {
  std::string out, error;
  if (!append_value(type, json_value, Modes{}, out, error)) {
    FUZZ_CHECK(!error.empty() && out.empty(), "a value that does not convert says why and writes nothing");
    return std::nullopt;
  }
  FUZZ_CHECK(util::valid_text(out) && json::accept(out), "the value is valid JSON");
  return json::parse(out);
}

}  // namespace

// Input fields: flags, then the data. Flags: G the data is a GeoJSON geometry (to_jsonb's); H hex
// EWKB text (the WAL's); B raw EWKB bytes (the target writes their hex); A a geometry[]'s text, e.g.
// {0101000000…:NULL} (the WAL's); g the column is a geography. Without G, H, B or A: G.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Fields in({reinterpret_cast<const char*>(data), size});
  std::string_view flags = in[0], body = in[1];
  auto flag = [&](char c) { return flags.find(c) != std::string_view::npos; };
  const bool geography = flag('g');

  if (flag('H') || flag('B')) {
    std::string text = flag('B') ? hex(body) : std::string(body);
    std::string quoted;
    util::append_json_string(quoted, text);
    std::optional<json> v = converted(postgis_type(geography, false), quoted);
    // What the hex holds, when it is hex.
    std::optional<std::string> bytes;
    if (text.size() % 2 == 0 && text.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos) {
      bytes.emplace();
      for (std::size_t i = 0; i < text.size(); i += 2) bytes->push_back(static_cast<char>(std::stoi(text.substr(i, 2), nullptr, 16)));
    }
    if (v) {
      FUZZ_CHECK(bytes, "only hex converts");
      check_value(*v, *bytes);
    }
    if (bytes && read_ewkb(*bytes)) FUZZ_CHECK(v, "hex of a whole EWKB geometry converts");
    return 0;
  }

  if (flag('A')) {
    std::string quoted;
    util::append_json_string(quoted, body);
    if (!util::valid_text(body)) return 0;
    std::optional<json> v = converted(postgis_type(geography, true), quoted);
    if (v) {
      FUZZ_CHECK(v->is_array(), "an array's text gives an array");
      for (const auto& e : *v)
        if (!e.is_null()) check_value(e, std::nullopt);
    }
    return 0;
  }

  // GeoJSON, without the whitespace around it (as a column's value is read).
  while (!body.empty() && std::string_view(" \t\n\r").find(body.front()) != std::string_view::npos) body.remove_prefix(1);
  while (!body.empty() && std::string_view(" \t\n\r").find(body.back()) != std::string_view::npos) body.remove_suffix(1);
  std::optional<std::string> ewkb = ewkb_of_geojson(body);
  std::optional<json> geojson = parsed(body);
  if (ewkb) {
    FUZZ_CHECK(ewkb->size() <= 10 * body.size() + 64, "the EWKB is at most ten bytes per byte of GeoJSON");
    if (geojson) {
      std::optional<Geometry> g = read_ewkb(*ewkb);
      FUZZ_CHECK(g, "the EWKB reads back as one geometry");
      FUZZ_CHECK(same_geometry(*g, *geojson), "the EWKB holds the GeoJSON's geometry");
      FUZZ_CHECK(g->srid == crs_srid(*geojson), "the SRID is the crs's, on the outermost header");
      // (A geometry without positions is plain in both.)
      const bool plain2 = plain_geometry(*geojson, 2), plain3 = plain_geometry(*geojson, 3);
      if (plain3 && !plain2) FUZZ_CHECK(z_matches(*g, true), "positions of three numbers have Z");
      if (plain2) FUZZ_CHECK(z_matches(*g, false), "positions of two numbers have no Z");
    }
  } else if (geojson) {
    FUZZ_CHECK(!plain_geometry(*geojson, 2) && !plain_geometry(*geojson, 3),
               "a GeoJSON geometry whose positions all have two numbers, or all three, converts");
  }
  // As a column's value: the same EWKB, and its SRID.
  if (geojson && geojson->is_object()) {
    std::optional<json> v = converted(postgis_type(geography, false), body);
    FUZZ_CHECK(v.has_value() == (ewkb && ewkb->size() >= 9), "a GeoJSON converts as a value when it converts to EWKB");
    if (v) check_value(*v, *ewkb);
  }
  return 0;
}
