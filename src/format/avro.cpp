#include "format/avro.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "util/digest.h"
#include "util/json_escape.h"
#include "util/json_scan.h"

namespace relay::avro {
namespace {

// Ordered: a schema's parameters keep their order, as the converter keeps it.
using json = nlohmann::ordered_json;

// Where the converter puts what has no name of its own (io.confluent.connect.avro.AvroData).
constexpr std::string_view kNamespace = "io.confluent.connect.avro";

// A name as Avro allows it, as Debezium's schema.name.adjustment.mode and field.name.adjustment.mode
// "avro" make it (a topic prefix "orders-db" names records orders_db.public.t.Value): in each part
// between dots, what is not a letter, a digit or '_' becomes '_', and so does a leading digit.
std::string avro_name(std::string_view name) {
  std::string out(name);
  bool part_start = true;
  for (char& c : out) {
    if (c == '.') {
      part_start = true;
      continue;
    }
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!letter && (part_start || c < '0' || c > '9')) c = '_';
    part_start = false;
  }
  return out;
}

// Avro's full name split at its last dot: {namespace ("" for none), name}.
std::pair<std::string, std::string> split_name(const std::string& full) {
  const auto dot = full.rfind('.');
  if (dot == std::string::npos) return {"", full};
  return {full.substr(0, dot), full.substr(dot + 1)};
}

// Writes a Connect schema as the Avro schema the converter makes of it, in the text Avro's
// Schema.toString() gives: a named type in full where it first appears and by name after, a name's
// namespace left out where it is the enclosing one, properties in the order the converter adds them.
class SchemaWriter {
 public:
  bool write(const json& connect, bool ignore_optional, std::string& out, Node& node, std::string& error) {
    if (!connect.is_object()) return fail(error, "a schema is a JSON object");
    const std::string type = connect.value("type", "");
    const bool optional = connect.value("optional", false) && !ignore_optional;
    const json* default_value = connect.contains("default") && !connect["default"].is_null() ? &connect["default"] : nullptr;
    const std::string name = connect.contains("name") && connect["name"].is_string() ? avro_name(connect["name"].get<std::string>()) : "";
    node.optional = optional;
    node.null_first = default_value == nullptr;
    if (type == "struct" && optional) {
      // A struct's union holds the struct (a record): its properties go on the record.
      std::string record;
      json plain = connect;
      plain["optional"] = false;
      if (!write(plain, true, record, node, error)) return false;
      node.optional = true;
      node.null_first = true;  // the converter puts null first for a struct, whatever its default
      out += "[\"null\"," + record + "]";
      return true;
    }

    std::string base;   // the type, before its properties: "int", or a record's or a map's own text
    std::string props;  // ,"key":value… after the type
    bool complex = false;
    std::string connect_type;
    if (type == "int8" || type == "int16") {
      connect_type = type;
      base = "int";
      node.kind = Node::Kind::Int;
    } else if (type == "int32") {
      base = "int";
      node.kind = Node::Kind::Int;
    } else if (type == "int64") {
      base = "long";
      node.kind = Node::Kind::Long;
    } else if (type == "float") {
      base = "float";
      node.kind = Node::Kind::Float;
    } else if (type == "double") {
      base = "double";
      node.kind = Node::Kind::Double;
    } else if (type == "boolean") {
      base = "boolean";
      node.kind = Node::Kind::Boolean;
    } else if (type == "string") {
      base = "string";
      node.kind = Node::Kind::String;
    } else if (type == "bytes") {
      base = "bytes";
      node.kind = Node::Kind::Bytes;
      if (name == "org.apache.kafka.connect.data.Decimal") {
        const json params = connect.value("parameters", json::object());
        props += ",\"scale\":" + std::to_string(std::stoi(params.value("scale", "0")));
        props += ",\"precision\":" + std::to_string(std::stoi(params.value("connect.decimal.precision", "64")));
      }
    } else if (type == "array") {
      if (!connect.contains("items")) return fail(error, "an array schema without \"items\"");
      std::string items;
      node.kind = Node::Kind::Array;
      node.children.emplace_back();
      if (!write(connect["items"], false, items, node.children.back(), error)) return false;
      base = "{\"type\":\"array\",\"items\":" + items;
      complex = true;
    } else if (type == "map") {
      if (!connect.contains("keys") || !connect.contains("values")) return fail(error, "a map schema without \"keys\" or \"values\"");
      const json& keys = connect["keys"];
      if (keys.value("type", "") == "string" && !keys.value("optional", false)) {
        std::string values;
        node.kind = Node::Kind::Map;
        node.children.emplace_back();
        if (!write(connect["values"], false, values, node.children.back(), error)) return false;
        base = "{\"type\":\"map\",\"values\":" + values;
      } else {
        // Avro's maps have string keys only: an array of {key, value} records.
        auto [ns, short_name] = name.empty() ? std::pair<std::string, std::string>{std::string(kNamespace), "MapEntry"}
                                             : split_name(name);
        node.kind = Node::Kind::MapEntries;
        node.children.resize(2);
        std::string entry;
        if (!record(ns, short_name, nullptr, {{"key", &keys}, {"value", &connect["values"]}}, node.children, entry,
                    name.empty() ? "" : ",\"connect.internal.type\":\"MapEntry\"", error))
          return false;
        base = "{\"type\":\"array\",\"items\":" + entry;
      }
      complex = true;
    } else if (type == "struct") {
      if (!connect.contains("fields") || !connect["fields"].is_array()) return fail(error, "a struct schema without \"fields\"");
      std::pair<std::string, std::string> full = name.empty()
          ? std::pair<std::string, std::string>{std::string(kNamespace), "ConnectDefault" + unnamed_suffix()}
          : split_name(name);
      node.kind = Node::Kind::Record;
      std::vector<std::pair<std::string, const json*>> fields;
      for (const auto& f : connect["fields"]) {
        if (!f.is_object() || !f.contains("field") || !f["field"].is_string()) return fail(error, "a struct field without its name (\"field\")");
        fields.emplace_back(avro_name(f["field"].get<std::string>()), &f);
        node.fields.push_back(f["field"].get<std::string>());  // the payload's own name
      }
      node.children.resize(fields.size());
      std::string meta = connect_properties(connect, name, default_value, "");
      if (!record(full.first, full.second, nullptr, fields, node.children, base, meta, error)) return false;
      out += base;
      return true;
    } else {
      return fail(error, "unknown schema type \"" + type + "\"");
    }

    props += connect_properties(connect, name, default_value, connect_type);
    if (name == "org.apache.kafka.connect.data.Decimal") props += ",\"logicalType\":\"decimal\"";
    else if (name == "org.apache.kafka.connect.data.Time") props += ",\"logicalType\":\"time-millis\"";
    else if (name == "org.apache.kafka.connect.data.Timestamp") props += ",\"logicalType\":\"timestamp-millis\"";
    else if (name == "org.apache.kafka.connect.data.Date") props += ",\"logicalType\":\"date\"";

    std::string text;
    if (complex) text = base + props + "}";
    else if (props.empty()) text = "\"" + base + "\"";
    else text = "{\"type\":\"" + base + "\"" + props + "}";
    if (!optional) out += text;
    else out += node.null_first ? "[\"null\"," + text + "]" : "[" + text + ",\"null\"]";
    return true;
  }

 private:
  static bool fail(std::string& error, std::string what) {
    error = std::move(what);
    return false;
  }

  std::string unnamed_suffix() {
    ++unnamed_;
    return unnamed_ > 1 ? std::to_string(unnamed_) : "";
  }

  // The connect.* properties: the converter's record of the Connect schema's doc, version,
  // parameters, default, name and (int8, int16) type.
  std::string connect_properties(const json& connect, const std::string& name, const json* default_value,
                                 const std::string& connect_type) {
    std::string p;
    if (connect.contains("doc") && connect["doc"].is_string()) p += ",\"connect.doc\":" + connect["doc"].dump();
    if (connect.contains("version") && connect["version"].is_number_integer())
      p += ",\"connect.version\":" + std::to_string(connect["version"].get<std::int64_t>());
    if (connect.contains("parameters") && connect["parameters"].is_object() && !connect["parameters"].empty())
      p += ",\"connect.parameters\":" + ordered_text(connect["parameters"]);
    if (default_value) p += ",\"connect.default\":" + default_text(connect, *default_value);
    if (!name.empty()) {
      p += ",\"connect.name\":";
      util::append_json_string(p, name);
    }
    if (!connect_type.empty()) p += ",\"connect.type\":\"" + connect_type + "\"";
    return p;
  }

  static std::string ordered_text(const json& object) { return object.dump(); }

  // A default as the converter writes it: bytes as a string of one character per byte (ISO-8859-1).
  static std::string default_text(const json& connect, const json& value) {
    const std::string type = connect.value("type", "");
    if (type == "bytes" && value.is_string()) {
      const std::string bytes = util::base64_decode(value.get<std::string>()).value_or("");
      std::string latin1;
      for (unsigned char c : bytes) {
        if (c < 0x80) latin1 += static_cast<char>(c);
        else {
          latin1 += static_cast<char>(0xc0 | (c >> 6));
          latin1 += static_cast<char>(0x80 | (c & 0x3f));
        }
      }
      std::string out;
      util::append_json_string(out, latin1);
      return out;
    }
    return value.dump();
  }

  // A record: a reference by name when it was written before, else its whole text.
  bool record(const std::string& ns, const std::string& name, const std::string* doc,
              const std::vector<std::pair<std::string, const json*>>& fields, std::vector<Node>& nodes, std::string& out,
              const std::string& meta, std::string& error) {
    const std::string full = ns.empty() ? name : ns + "." + name;
    if (defined_.count(full)) {
      // Avro writes a name its enclosing namespace holds without the namespace.
      out += "\"" + (ns == space_ ? name : full) + "\"";
      // The fields' writers were compiled where it was defined.
      auto& first = nodes_by_name_[full];
      nodes = first;
      return true;
    }
    defined_.insert(full);
    out += "{\"type\":\"record\",\"name\":";
    util::append_json_string(out, name);
    if (!ns.empty() && ns != space_) {
      out += ",\"namespace\":";
      util::append_json_string(out, ns);
    } else if (ns.empty() && !space_.empty()) {
      out += ",\"namespace\":\"\"";
    }
    if (doc) {
      out += ",\"doc\":";
      util::append_json_string(out, *doc);
    }
    const std::string saved = space_;
    space_ = ns;
    out += ",\"fields\":[";
    for (std::size_t i = 0; i < fields.size(); ++i) {
      const auto& [field_name, schema] = fields[i];
      if (i) out += ',';
      out += "{\"name\":";
      util::append_json_string(out, field_name);
      out += ",\"type\":";
      if (!write(*schema, false, out, nodes[i], error)) {
        error = "field \"" + field_name + "\": " + error;
        return false;
      }
      const bool has_default = schema->contains("default") && !(*schema)["default"].is_null();
      if (has_default) out += ",\"default\":" + default_text(*schema, (*schema)["default"]);
      else if (schema->value("optional", false)) out += ",\"default\":null";
      out += '}';
    }
    out += ']';
    space_ = saved;
    out += meta;
    out += '}';
    nodes_by_name_[full] = nodes;
    return true;
  }

  std::set<std::string> defined_;
  std::map<std::string, std::vector<Node>> nodes_by_name_;
  std::string space_;  // the enclosing namespace
  int unnamed_ = 0;
};

// ---- Values ---------------------------------------------------------------------------------------

// `path` names the value in errors ("" the whole one; "after.id"): each level appends its part and
// takes it off again, so a value written without error costs no string.
bool write_value(const Node& node, std::string_view value, std::string& out, std::string& error, std::string& path);

bool number_of(std::string_view value, double& d) {
  if (json_scan::kind(value) == 'n') {
    const auto r = std::from_chars(value.data(), value.data() + value.size(), d);
    return r.ec == std::errc() && r.ptr == value.data() + value.size();
  }
  // JsonConverter writes what a JSON number cannot be as strings.
  if (json_scan::kind(value) == '"') {
    std::string s;
    json_scan::append_text(s, value);
    if (s == "NaN") d = std::nan("");
    else if (s == "Infinity") d = HUGE_VAL;
    else if (s == "-Infinity") d = -HUGE_VAL;
    else return false;
    return true;
  }
  return false;
}

bool integer_of(std::string_view value, std::int64_t& v) {
  if (json_scan::kind(value) != 'n') return false;
  const auto r = std::from_chars(value.data(), value.data() + value.size(), v);
  return r.ec == std::errc() && r.ptr == value.data() + value.size();
}

void append_bytes(std::string& out, std::string_view bytes) {
  append_long(out, static_cast<std::int64_t>(bytes.size()));
  out.append(bytes);
}

// Whether a raw, quoted JSON key is `name`.
bool key_is(std::string_view raw, std::string_view name) {
  if (raw.find('\\') == std::string_view::npos) return raw.size() == name.size() + 2 && raw.substr(1, name.size()) == name;
  std::string text;
  json_scan::append_text(text, raw);
  return text == name;
}

// Appends a JSON string's text: as it stands when it holds no escape.
void append_string_bytes(std::string& out, std::string_view value) {
  if (value.size() >= 2 && value.back() == '"' && value.find('\\') == std::string_view::npos) {
    append_bytes(out, value.substr(1, value.size() - 2));
    return;
  }
  std::string s;
  json_scan::append_text(s, value);
  append_bytes(out, s);
}

// Runs `write` with `part` appended to `path`, then takes it off.
template <class F>
bool within(std::string& path, std::string_view part, F&& write) {
  const std::size_t size = path.size();
  if (!path.empty() && !part.starts_with('[')) path += '.';
  path += part;
  const bool ok = write();
  if (ok) path.resize(size);
  return ok;
}

bool write_present(const Node& node, std::string_view value, std::string& out, std::string& error, std::string& path) {
  auto wrong = [&](std::string_view expected) {
    error = (path.empty() ? std::string("the value") : "field \"" + path + "\"") + " is not " + std::string(expected) + ": " +
            std::string(value.substr(0, 80));
    return false;
  };
  switch (node.kind) {
    case Node::Kind::Boolean: {
      const char k = json_scan::kind(value);
      if (k != 't' && k != 'f') return wrong("a boolean");
      out += static_cast<char>(k == 't' ? 1 : 0);
      return true;
    }
    case Node::Kind::Int:
    case Node::Kind::Long: {
      std::int64_t v = 0;
      if (!integer_of(value, v)) return wrong("an integer");
      if (node.kind == Node::Kind::Int && (v < INT32_MIN || v > INT32_MAX)) return wrong("a 32-bit integer");
      append_long(out, v);
      return true;
    }
    case Node::Kind::Float: {
      double d = 0;
      if (!number_of(value, d)) return wrong("a number");
      const float f = static_cast<float>(d);
      char b[4];
      std::memcpy(b, &f, 4);  // little-endian, as Avro writes it (this machine's order)
      out.append(b, 4);
      return true;
    }
    case Node::Kind::Double: {
      double d = 0;
      if (!number_of(value, d)) return wrong("a number");
      char b[8];
      std::memcpy(b, &d, 8);
      out.append(b, 8);
      return true;
    }
    case Node::Kind::String: {
      if (json_scan::kind(value) != '"') return wrong("a string");
      append_string_bytes(out, value);
      return true;
    }
    case Node::Kind::Bytes: {
      // JsonConverter writes bytes (and a Decimal's unscaled two's complement) in base64.
      if (json_scan::kind(value) != '"') return wrong("base64 bytes");
      std::string s;
      json_scan::append_text(s, value);
      auto bytes = util::base64_decode(s);
      if (!bytes) return wrong("base64 bytes");
      append_bytes(out, *bytes);
      return true;
    }
    case Node::Kind::Array:
    case Node::Kind::MapEntries: {
      std::vector<std::string_view> items;
      if (!json_scan::each_element(value, [&](std::string_view v) { items.push_back(v); })) return wrong("an array");
      if (!items.empty()) append_long(out, static_cast<std::int64_t>(items.size()));
      for (std::size_t i = 0; i < items.size(); ++i) {
        const bool ok = within(path, "[" + std::to_string(i) + "]", [&] {
          if (node.kind == Node::Kind::Array) return write_value(node.children[0], items[i], out, error, path);
          // A map with other than string keys: JsonConverter's [key, value] pairs.
          std::vector<std::string_view> pair;
          if (!json_scan::each_element(items[i], [&](std::string_view v) { pair.push_back(v); }) || pair.size() != 2)
            return wrong("an array of [key, value] pairs");
          return within(path, "key", [&] { return write_value(node.children[0], pair[0], out, error, path); }) &&
                 within(path, "value", [&] { return write_value(node.children[1], pair[1], out, error, path); });
        });
        if (!ok) return false;
      }
      out += '\0';
      return true;
    }
    case Node::Kind::Map: {
      std::vector<std::pair<std::string_view, std::string_view>> entries;
      if (!json_scan::each_field(value, [&](std::string_view k, std::string_view v) { entries.emplace_back(k, v); }))
        return wrong("an object");
      if (!entries.empty()) append_long(out, static_cast<std::int64_t>(entries.size()));
      for (const auto& entry : entries) {
        std::string key;
        json_scan::append_text(key, entry.first);
        append_bytes(out, key);
        if (!within(path, key, [&] { return write_value(node.children[0], entry.second, out, error, path); })) return false;
      }
      out += '\0';
      return true;
    }
    case Node::Kind::Record: {
      // The payload's fields in its order. The formats write them in the schema's, so each field
      // is looked for where the last one was found; one out of order costs a search.
      // The fields are kept on a stack of the thread's that nested records share (each its own
      // stretch of it, taken off at the end): no allocation per record.
      thread_local std::vector<std::pair<std::string_view, std::string_view>> stack;
      const std::size_t base = stack.size();
      struct Pop {
        std::size_t base;
        ~Pop() { stack.resize(base); }
      } pop{base};
      if (!json_scan::each_field(value, [&](std::string_view k, std::string_view v) { stack.emplace_back(k, v); }))
        return wrong("an object");
      const std::size_t count = stack.size() - base;
      std::size_t next = 0;
      for (std::size_t i = 0; i < node.fields.size(); ++i) {
        std::string_view field = "null";
        if (next < count && key_is(stack[base + next].first, node.fields[i])) {
          field = stack[base + next++].second;
        } else {
          for (std::size_t g = 0; g < count; ++g)
            if (key_is(stack[base + g].first, node.fields[i])) {
              field = stack[base + g].second;
              next = g + 1;
              break;
            }
        }
        if (!within(path, node.fields[i], [&] { return write_value(node.children[i], field, out, error, path); })) return false;
      }
      return true;
    }
  }
  return wrong("of a known type");
}

bool write_value(const Node& node, std::string_view value, std::string& out, std::string& error, std::string& path) {
  const bool is_null = json_scan::kind(value) == 'z';
  if (!node.optional) {
    if (is_null) {
      error = (path.empty() ? std::string("the value") : "field \"" + path + "\"") + " is null but its schema is not optional";
      return false;
    }
    return write_present(node, value, out, error, path);
  }
  // A union: the branch's index, then its value.
  const int null_index = node.null_first ? 0 : 1;
  append_long(out, is_null ? null_index : 1 - null_index);
  return is_null || write_present(node, value, out, error, path);
}

}  // namespace

void append_long(std::string& out, std::int64_t v) {
  std::uint64_t z = (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
  while (z >= 0x80) {
    out += static_cast<char>((z & 0x7f) | 0x80);
    z >>= 7;
  }
  out += static_cast<char>(z);
}

void append_confluent_header(std::string& out, std::uint32_t schema_id) {
  out += '\0';
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((schema_id >> shift) & 0xff);
}

bool Converter::from_connect(std::string_view connect_schema, Converter& out, std::string& error) {
  json schema;
  try {
    schema = json::parse(connect_schema);
  } catch (const json::exception& e) {
    error = std::string("the Connect schema is not JSON: ") + e.what();
    return false;
  }
  SchemaWriter writer;
  Converter c;
  if (!writer.write(schema, false, c.schema_, c.root_, error)) return false;
  out = std::move(c);
  return true;
}

bool Converter::write(std::string_view payload, std::string& out, std::string& error) const {
  std::string path;
  return write_value(root_, payload, out, error, path);
}

}  // namespace relay::avro
