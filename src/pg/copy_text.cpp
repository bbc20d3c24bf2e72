#include "pg/copy_text.h"

#include <utility>

#include <cstring>

namespace relay::pg {

void read_copy_field(const char*& p, const char* end, std::string& out, bool& is_null) {
  out.clear();
  const char* tab = static_cast<const char*>(std::memchr(p, '\t', static_cast<size_t>(end - p)));
  std::string_view raw(p, static_cast<size_t>((tab ? tab : end) - p));
  p = tab ? tab + 1 : end;
  is_null = raw == "\\N";
  if (is_null) return;
  if (std::memchr(raw.data(), '\\', raw.size()) == nullptr) {
    out.assign(raw);
    return;
  }
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c != '\\' || i + 1 >= raw.size()) {
      out += c;
      continue;
    }
    switch (char e = raw[++i]) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'v': out += '\v'; break;
      default: out += e;
    }
  }
}

void append_copy_field(std::string& out, std::string_view text) {
  size_t from = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char* escaped;
    switch (text[i]) {
      case '\\': escaped = "\\\\"; break;
      case '\t': escaped = "\\t"; break;
      case '\n': escaped = "\\n"; break;
      case '\r': escaped = "\\r"; break;
      default: continue;
    }
    out.append(text.data() + from, i - from);
    out += escaped;
    from = i + 1;
  }
  out.append(text.data() + from, text.size() - from);
}

}  // namespace relay::pg
