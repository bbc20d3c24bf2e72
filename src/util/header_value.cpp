#include "util/header_value.h"

#include <algorithm>

namespace relay::util {
namespace {

bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

bool needs_encoding(std::string_view value) {
  return std::any_of(value.begin(), value.end(), [](char c) { return c == '%' || is_control(static_cast<unsigned char>(c)); });
}

}  // namespace

bool fits_header(std::string_view value) {
  return std::none_of(value.begin(), value.end(), [](char c) { return is_control(static_cast<unsigned char>(c)); });
}

void append_header_safe(std::string& out, std::string_view value) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (char ch : value) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c != '%' && !is_control(c)) {
      out += ch;
      continue;
    }
    out += '%';
    out += hex[c >> 4];
    out += hex[c & 0xf];
  }
}

std::string_view header_safe(std::string_view value, std::string& buf) {
  if (!needs_encoding(value)) return value;
  buf.clear();
  append_header_safe(buf, value);
  return buf;
}

std::string header_safe(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  append_header_safe(out, value);
  return out;
}

}  // namespace relay::util
