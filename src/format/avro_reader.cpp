#include "format/avro_reader.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>

#include "util/digest.h"
#include "util/json_escape.h"
#include "util/strings.h"

namespace relay::avro {
namespace {

using Kind = Reader::Type::Kind;

// Deeper values than this (a recursive schema fed crafted bytes) are refused, not followed.
constexpr int kMostDepth = 64;
// Items of arrays and maps in one value, beyond one per byte of it: a count is the sender's to
// choose, and items of type null take no bytes to claim.
constexpr std::int64_t kSpareItems = 1024;

class SchemaParser {
 public:
  std::vector<Reader::Type> types;

  bool parse(const nlohmann::json& s, const std::string& ns, int& index, std::string& error, int depth = 0) {
    if (depth > kMostDepth) return fail(error, "the schema nests deeper than " + std::to_string(kMostDepth));
    if (s.is_string()) return named_or_primitive(s.get<std::string>(), ns, index, error);
    if (s.is_array()) {
      Reader::Type u{.kind = Kind::Union};
      for (const auto& branch : s) {
        int b = 0;
        if (!parse(branch, ns, b, error, depth + 1)) return false;
        u.children.push_back(b);
      }
      if (u.children.empty()) return fail(error, "a union with no branch");
      return add(std::move(u), index);
    }
    if (!s.is_object() || !s.contains("type")) return fail(error, "a schema is a type name, a union or an object with \"type\"");
    const nlohmann::json& type = s["type"];
    if (!type.is_string()) return parse(type, ns, index, error, depth + 1);  // {"type": [..]} or {"type": {..}}
    const std::string t = type.get<std::string>();
    if (t == "record" || t == "error" || t == "enum" || t == "fixed") {
      const std::string full = full_name(s, ns);
      if (full.empty()) return fail(error, "a " + t + " without its name");
      const std::string inner_ns = full.rfind('.') == std::string::npos ? "" : full.substr(0, full.rfind('.'));
      index = static_cast<int>(types.size());
      types.push_back({});
      names_[full] = index;  // before the fields: a record may name itself
      Reader::Type r;
      if (t == "enum") {
        r.kind = Kind::Enum;
        if (!s.contains("symbols") || !s["symbols"].is_array()) return fail(error, "enum " + full + " without symbols");
        for (const auto& sym : s["symbols"])
          if (sym.is_string()) r.names.push_back(sym.get<std::string>());
      } else if (t == "fixed") {
        r.kind = Kind::Fixed;
        if (!s.contains("size") || !s["size"].is_number_unsigned()) return fail(error, "fixed " + full + " without its size");
        r.size = s["size"].get<std::size_t>();
      } else {
        r.kind = Kind::Record;
        // Read only when text: a registry's schema may carry anything under a key it does not define.
        const auto internal = s.find("connect.internal.type");
        r.map_entry = full == "io.confluent.connect.avro.MapEntry" ||
                      (internal != s.end() && internal->is_string() && *internal == "MapEntry");
        if (!s.contains("fields") || !s["fields"].is_array()) return fail(error, "record " + full + " without fields");
        for (const auto& f : s["fields"]) {
          if (!f.is_object() || !f.contains("name") || !f["name"].is_string() || !f.contains("type"))
            return fail(error, "a field of record " + full + " without its name or type");
          int child = 0;
          if (!parse(f["type"], inner_ns, child, error, depth + 1)) return false;
          r.names.push_back(f["name"].get<std::string>());
          r.children.push_back(child);
        }
      }
      types[static_cast<std::size_t>(index)] = std::move(r);
      return true;
    }
    if (t == "array" || t == "map") {
      const char* part = t == "array" ? "items" : "values";
      if (!s.contains(part)) return fail(error, "an " + t + " without its " + part);
      int child = 0;
      if (!parse(s[part], ns, child, error, depth + 1)) return false;
      return add({.kind = t == "array" ? Kind::Array : Kind::Map, .children = {child}}, index);
    }
    return named_or_primitive(t, ns, index, error);  // a primitive with properties (a logical type)
  }

 private:
  static bool fail(std::string& error, std::string what) {
    error = std::move(what);
    return false;
  }
  bool add(Reader::Type t, int& index) {
    index = static_cast<int>(types.size());
    types.push_back(std::move(t));
    return true;
  }
  static std::string full_name(const nlohmann::json& s, const std::string& ns) {
    if (!s.contains("name") || !s["name"].is_string()) return "";
    std::string name = s["name"].get<std::string>();
    if (name.find('.') != std::string::npos) return name;
    std::string space = s.contains("namespace") && s["namespace"].is_string() ? s["namespace"].get<std::string>() : ns;
    return space.empty() ? name : space + "." + name;
  }
  bool named_or_primitive(const std::string& t, const std::string& ns, int& index, std::string& error) {
    static const std::map<std::string, Kind> kPrimitives{
        {"null", Kind::Null},   {"boolean", Kind::Boolean}, {"int", Kind::Int},     {"long", Kind::Long},
        {"float", Kind::Float}, {"double", Kind::Double},   {"bytes", Kind::Bytes}, {"string", Kind::String}};
    if (auto p = kPrimitives.find(t); p != kPrimitives.end()) return add({.kind = p->second}, index);
    for (const std::string& candidate : {t, ns.empty() ? t : ns + "." + t})
      if (auto n = names_.find(candidate); n != names_.end()) {
        index = n->second;
        return true;
      }
    return fail(error, "the schema names type \"" + t + "\", which it does not define");
  }
  std::map<std::string, int> names_;
};

class Decoder {
 public:
  Decoder(const std::vector<Reader::Type>& types, std::string_view bytes)
      : types_(types), in_(bytes), items_left_(static_cast<std::int64_t>(bytes.size()) + kSpareItems) {}

  bool value(int index, std::string& out, std::string& error, int depth = 0) {
    if (depth > kMostDepth) return fail(error, "the value nests deeper than " + std::to_string(kMostDepth));
    const Reader::Type& t = types_[static_cast<std::size_t>(index)];
    std::int64_t n = 0;
    switch (t.kind) {
      case Kind::Null: out += "null"; return true;
      case Kind::Boolean: {
        std::string_view b;
        if (!take(1, b, error)) return false;
        out += b[0] ? "true" : "false";
        return true;
      }
      case Kind::Int:
      case Kind::Long:
        if (!varint(n, error)) return false;
        util::append_int(out, n);
        return true;
      case Kind::Float: {
        std::string_view b;
        if (!take(4, b, error)) return false;
        float f;
        std::memcpy(&f, b.data(), 4);
        return number(out, f);
      }
      case Kind::Double: {
        std::string_view b;
        if (!take(8, b, error)) return false;
        double d;
        std::memcpy(&d, b.data(), 8);
        return number(out, d);
      }
      case Kind::Bytes:
      case Kind::String: {
        std::string_view b;
        if (!varint(n, error) || n < 0 || !take(static_cast<std::size_t>(n), b, error))
          return fail(error, error.empty() ? "a negative length" : error);
        if (t.kind == Kind::String && !util::valid_text(b)) return fail(error, "a string that is not UTF-8");
        util::append_json_string(out, t.kind == Kind::Bytes ? util::base64_encode(b) : std::string(b));
        return true;
      }
      case Kind::Fixed: {
        std::string_view b;
        if (!take(t.size, b, error)) return false;
        util::append_json_string(out, util::base64_encode(b));
        return true;
      }
      case Kind::Enum:
        if (!varint(n, error)) return false;
        if (n < 0 || static_cast<std::size_t>(n) >= t.names.size())
          return fail(error, fmt::format("enum index {} of {} symbols", n, t.names.size()));
        util::append_json_string(out, t.names[static_cast<std::size_t>(n)]);
        return true;
      case Kind::Union:
        if (!varint(n, error)) return false;
        if (n < 0 || static_cast<std::size_t>(n) >= t.children.size())
          return fail(error, fmt::format("union branch {} of {}", n, t.children.size()));
        return value(t.children[static_cast<std::size_t>(n)], out, error, depth + 1);
      case Kind::Record: {
        out += '{';
        for (std::size_t i = 0; i < t.children.size(); ++i) {
          if (i) out += ',';
          util::append_json_string(out, t.names[i]);
          out += ':';
          if (!value(t.children[i], out, error, depth + 1)) return false;
        }
        out += '}';
        return true;
      }
      case Kind::Array:
      case Kind::Map: {
        const Reader::Type& item = types_[static_cast<std::size_t>(t.children[0])];
        const bool pairs = t.kind == Kind::Array && item.kind == Kind::Record && item.map_entry && item.children.size() == 2;
        out += t.kind == Kind::Map ? '{' : '[';
        bool first = true;
        while (true) {
          std::int64_t count = 0;
          if (!varint(count, error)) return false;
          if (count == 0) break;
          if (count < 0) {  // a block given with its size in bytes
            std::int64_t size = 0;
            if (!varint(size, error)) return false;
            if (count == INT64_MIN) return fail(error, "a block count out of range");
            count = -count;
          }
          if (count > items_left_) return fail(error, fmt::format("a block of {} items, more than the value's {} bytes can hold", count, in_.size()));
          items_left_ -= count;
          for (std::int64_t i = 0; i < count; ++i) {
            if (!first) out += ',';
            first = false;
            if (t.kind == Kind::Map) {
              std::string_view key;
              if (!varint(n, error) || n < 0 || !take(static_cast<std::size_t>(n), key, error))
                return fail(error, error.empty() ? "a negative length" : error);
              if (!util::valid_text(key)) return fail(error, "a map key that is not UTF-8");
              util::append_json_string(out, key);
              out += ':';
              if (!value(t.children[0], out, error, depth + 1)) return false;
            } else if (pairs) {
              out += '[';
              if (!value(item.children[0], out, error, depth + 1)) return false;
              out += ',';
              if (!value(item.children[1], out, error, depth + 1)) return false;
              out += ']';
            } else if (!value(t.children[0], out, error, depth + 1)) {
              return false;
            }
          }
        }
        out += t.kind == Kind::Map ? '}' : ']';
        return true;
      }
    }
    return fail(error, "a type this reader does not know");
  }

  bool finished(std::string& error) const {
    if (in_.empty()) return true;
    error = fmt::format("{} bytes left after the value", in_.size());
    return false;
  }

 private:
  static bool fail(std::string& error, std::string what) {
    error = std::move(what);
    return false;
  }
  bool take(std::size_t n, std::string_view& b, std::string& error) {
    if (n > in_.size()) return fail(error, fmt::format("the value ends early: {} bytes wanted, {} left", n, in_.size()));
    b = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  bool varint(std::int64_t& v, std::string& error) {
    std::uint64_t z = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in_.empty()) return fail(error, "the value ends inside a number");
      const auto byte = static_cast<unsigned char>(in_.front());
      in_.remove_prefix(1);
      z |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) {
        v = static_cast<std::int64_t>((z >> 1) ^ (~(z & 1) + 1));
        return true;
      }
    }
    return fail(error, "a number longer than 10 bytes");
  }
  template <typename F>
  static bool number(std::string& out, F f) {
    // JSON has no NaN or infinity: Jackson, which JsonConverter uses, writes them as these strings.
    if (std::isnan(f)) out += "\"NaN\"";
    else if (std::isinf(f)) out += f > 0 ? "\"Infinity\"" : "\"-Infinity\"";
    else out += fmt::format("{}", f);
    return true;
  }

  const std::vector<Reader::Type>& types_;
  std::string_view in_;
  std::int64_t items_left_;
};

}  // namespace

bool Reader::from_schema(std::string_view avro_schema, Reader& out, std::string& error) {
  auto schema = nlohmann::json::parse(avro_schema, nullptr, false);
  if (schema.is_discarded()) {
    error = "the Avro schema is not JSON";
    return false;
  }
  SchemaParser parser;
  int root = 0;
  if (!parser.parse(schema, "", root, error)) return false;
  out.types_ = std::make_shared<const std::vector<Type>>(std::move(parser.types));
  out.root_ = root;
  return true;
}

bool Reader::read(std::string_view bytes, std::string& out, std::string& error) const {
  if (!types_) {
    error = "no schema";
    return false;
  }
  Decoder d(*types_, bytes);
  return d.value(root_, out, error) && d.finished(error);
}

}  // namespace relay::avro
