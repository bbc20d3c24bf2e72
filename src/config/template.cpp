#include "config/template.h"

#include <cctype>

namespace relay {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

bool valid_column_name(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c == '{' || c == '}') return false;
  return true;
}

// Percent-encodes all but RFC 3986's unreserved characters; in a path, a value of only dots is
// encoded too, so it cannot climb out of its segment.
void percent_encode(std::string_view v, bool path, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  bool dots_only = path && !v.empty() && v.find_first_not_of('.') == std::string_view::npos;
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '~' || (c == '.' && !dots_only)) {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
}

}  // namespace

Result<Template> Template::compile_url(std::string_view text) {
  auto t = compile(text);
  if (!t) return t;
  bool query = false;
  for (auto& p : t->parts_) {
    if (p.kind == Kind::literal) {
      query = query || p.text.find_first_of("?#") != std::string::npos;
      continue;
    }
    p.escape = query ? Escape::query : Escape::path;
  }
  return t;
}

Result<Template> Template::compile(std::string_view text) {
  Template t;
  t.text_ = std::string(text);
  std::string literal;
  size_t i = 0;
  auto flush = [&] {
    if (!literal.empty()) t.parts_.push_back({Kind::literal, std::move(literal)});
    literal.clear();
  };
  while (i < text.size()) {
    if (text[i] == '}') {
      return fatal("template \"" + t.text_ + "\": unmatched \"}\" at position " + std::to_string(i + 1));
    }
    if (text[i] != '{') {
      literal += text[i++];
      continue;
    }
    if (text.substr(i, 2) == "{{") {
      size_t end = text.find("}}", i + 2);
      if (end == std::string_view::npos)
        return fatal("template \"" + t.text_ + "\": \"{{\" is not closed; write {{ column }}");
      std::string_view name = trim(text.substr(i + 2, end - i - 2));
      if (!valid_column_name(name))
        return fatal("template \"" + t.text_ + "\": \"{{" + std::string(text.substr(i + 2, end - i - 2)) +
                     "}}\" is not a column name; write {{ column }}");
      flush();
      t.parts_.push_back({Kind::column, std::string(name)});
      i = end + 2;
      continue;
    }
    size_t end = text.find('}', i + 1);
    if (end == std::string_view::npos)
      return fatal("template \"" + t.text_ + "\": \"{\" is not closed; variables are written {stream_table}");
    std::string_view name = text.substr(i + 1, end - i - 1);
    Kind kind;
    if (name == "stream_table") kind = Kind::stream_table;
    else if (name == "op") kind = Kind::op;
    else if (name == "outbox_id") kind = Kind::outbox_id;
    else if (name == "refresh_id") kind = Kind::refresh_id;
    else if (name == "schema") kind = Kind::schema;
    else if (name == "table") kind = Kind::table;
    else
      return fatal("template \"" + t.text_ + "\": unknown variable {" + std::string(name) +
                   "}; expected {stream_table}, {schema}, {table}, {op}, {outbox_id}, {refresh_id} or a row field as {{ column }}");
    flush();
    t.parts_.push_back({kind, {}});
    i = end + 1;
  }
  flush();
  return t;
}

void Template::render(const TemplateVars& vars, std::string& out) const {
  std::string value;
  for (const auto& p : parts_) {
    if (p.escape == Escape::none) {
      render_part(p, vars, out);
      continue;
    }
    value.clear();
    render_part(p, vars, value);
    percent_encode(value, p.escape == Escape::path, out);
  }
}

void Template::render_part(const Part& p, const TemplateVars& vars, std::string& out) {
  switch (p.kind) {
    case Kind::literal: out += p.text; break;
    case Kind::stream_table: out += vars.stream_table; break;
    case Kind::op: out += vars.op; break;
    case Kind::outbox_id: out += vars.outbox_id; break;
    case Kind::refresh_id: out += vars.refresh_id; break;
    case Kind::schema: out += vars.schema; break;
    case Kind::table: out += vars.table; break;
    case Kind::column: vars.column(p.text, out); break;
  }
}

std::string_view Template::literal_prefix() const {
  if (parts_.empty() || parts_.front().kind != Kind::literal) return {};
  return parts_.front().text;
}

bool Template::has_columns() const {
  for (const auto& p : parts_)
    if (p.kind == Kind::column) return true;
  return false;
}

}  // namespace relay
