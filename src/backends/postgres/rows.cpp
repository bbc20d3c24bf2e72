#include "backends/postgres/rows.h"

#include <algorithm>

namespace relay::postgres {
namespace {

// One part of a stream table's name from `pos`: a double-quoted identifier ("" a quote in it), or
// the text up to the next '.'. False when it is not one: an unterminated or empty quoted part, an
// unquoted part with a quote.
bool read_name_part(std::string_view s, size_t& pos, std::string& out) {
  out.clear();
  if (pos < s.size() && s[pos] == '"') {
    for (++pos; pos < s.size(); ++pos) {
      if (s[pos] != '"') {
        out += s[pos];
      } else if (pos + 1 < s.size() && s[pos + 1] == '"') {
        out += '"';
        ++pos;
      } else {
        ++pos;
        return !out.empty();
      }
    }
    return false;
  }
  size_t end = std::min(s.find('.', pos), s.size());
  out.assign(s.substr(pos, end - pos));
  pos = end;
  return !out.empty() && out.find('"') == std::string::npos;
}

}  // namespace

TableName split_stream_table(std::string_view s) {
  size_t pos = 0;
  std::string first, second;
  if (read_name_part(s, pos, first)) {
    if (pos == s.size()) return {"public", std::move(first)};
    if (s[pos] == '.' && read_name_part(s, ++pos, second) && pos == s.size()) return {std::move(first), std::move(second)};
  }
  // Not written by the rule: split at the first dot, as before.
  auto dot = s.find('.');
  if (dot == std::string_view::npos) return {"public", std::string(s)};
  return {std::string(s.substr(0, dot)), std::string(s.substr(dot + 1))};
}

}  // namespace relay::postgres
