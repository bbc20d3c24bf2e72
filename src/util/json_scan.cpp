#include "util/json_scan.h"

#include <algorithm>
#include <cstring>

#include "util/json_escape.h"

namespace relay::json_scan {
namespace {

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

bool hex4(std::string_view s, unsigned& out) {
  if (s.size() < 4) return false;
  out = 0;
  for (int i = 0; i < 4; ++i) {
    char c = s[i];
    unsigned d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 16;
    if (d == 16) return false;
    out = out * 16 + d;
  }
  return true;
}

void skip_space(std::string_view t, size_t& pos) {
  while (pos < t.size() && is_space(t[pos])) ++pos;
}

bool read_string(std::string_view t, size_t& pos) {
  // pos at the opening quote
  ++pos;
  while (pos < t.size()) {
    // Plain characters in bulk: most strings have no escapes.
    while (pos < t.size() && t[pos] != '"' && t[pos] != '\\' && static_cast<unsigned char>(t[pos]) >= 0x20) ++pos;
    if (pos >= t.size()) return false;
    char c = t[pos];
    if (c == '"') {
      ++pos;
      return true;
    }
    if (c == '\\') {
      if (pos + 1 >= t.size()) return false;
      char e = t[pos + 1];
      if (e == 'u') {
        unsigned cp, lo;
        if (!hex4(t.substr(pos + 2), cp)) return false;
        pos += 6;
        // A surrogate only as a high one followed by a low one: jsonb refuses lone halves.
        if (cp >= 0xDC00 && cp <= 0xDFFF) return false;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (pos + 1 >= t.size() || t[pos] != '\\' || t[pos + 1] != 'u' || !hex4(t.substr(pos + 2), lo) ||
              lo < 0xDC00 || lo > 0xDFFF)
            return false;
          pos += 6;
        }
        continue;
      }
      if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' && e != 't') return false;
      pos += 2;
      continue;
    }
    if (static_cast<unsigned char>(c) < 0x20) return false;
    ++pos;
  }
  return false;
}

bool read_number(std::string_view t, size_t& pos) {
  size_t start = pos;
  if (pos < t.size() && t[pos] == '-') ++pos;
  size_t digits = pos;
  while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') ++pos;
  if (pos == digits) return false;
  if (t[digits] == '0' && pos - digits > 1) return false;  // no leading zeros ("01"), as in JSON and jsonb
  if (pos < t.size() && t[pos] == '.') {
    ++pos;
    size_t frac = pos;
    while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') ++pos;
    if (pos == frac) return false;
  }
  if (pos < t.size() && (t[pos] == 'e' || t[pos] == 'E')) {
    ++pos;
    if (pos < t.size() && (t[pos] == '+' || t[pos] == '-')) ++pos;
    size_t exp = pos;
    while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') ++pos;
    if (pos == exp) return false;
  }
  return pos > start;
}

bool read_literal(std::string_view t, size_t& pos, std::string_view word) {
  if (t.substr(pos, word.size()) != word) return false;
  pos += word.size();
  return true;
}

// Containers are read iteratively with an explicit depth budget, so hostile nesting cannot
// exhaust the stack.
bool read_any(std::string_view t, size_t& pos) {
  skip_space(t, pos);
  if (pos >= t.size()) return false;
  char c = t[pos];
  if (c == '"') return read_string(t, pos);
  if (c == 't') return read_literal(t, pos, "true");
  if (c == 'f') return read_literal(t, pos, "false");
  if (c == 'n') return read_literal(t, pos, "null");
  if (c == '-' || (c >= '0' && c <= '9')) return read_number(t, pos);
  if (c != '{' && c != '[') return false;
  // The closing brackets still expected; on the stack for ordinary depths.
  char small[64];
  std::string big;
  size_t depth = 0;
  auto push = [&](char close) {
    if (depth < sizeof small) small[depth] = close;
    else big.push_back(close);
    ++depth;
  };
  auto top = [&] { return depth <= sizeof small ? small[depth - 1] : big.back(); };
  auto pop = [&] {
    if (depth > sizeof small) big.pop_back();
    --depth;
  };
  push(c == '{' ? '}' : ']');
  ++pos;
  bool expect_value = true;  // right after an opening bracket: a value, a key, or the close
  bool after_open = true;
  while (depth > 0) {
    if (depth > 10000) return false;
    skip_space(t, pos);
    if (pos >= t.size()) return false;
    char close = top();
    char ch = t[pos];
    if (ch == close && (after_open || !expect_value)) {
      pop();
      ++pos;
      expect_value = false;
      after_open = false;
      continue;
    }
    if (!expect_value) {
      if (ch != ',') return false;
      ++pos;
      expect_value = true;
      after_open = false;
      continue;
    }
    if (close == '}') {  // a key, a colon, then a value
      skip_space(t, pos);
      if (pos >= t.size() || t[pos] != '"' || !read_string(t, pos)) return false;
      skip_space(t, pos);
      if (pos >= t.size() || t[pos] != ':') return false;
      ++pos;
      skip_space(t, pos);
    }
    if (pos >= t.size()) return false;
    ch = t[pos];
    after_open = false;
    if (ch == '{' || ch == '[') {
      push(ch == '{' ? '}' : ']');
      ++pos;
      after_open = true;
      expect_value = true;
      continue;
    }
    size_t before = pos;
    if (!read_any(t, pos) || pos == before) return false;
    expect_value = false;
  }
  return true;
}

}  // namespace

bool read_value(std::string_view text, size_t& pos, std::string_view& value) {
  skip_space(text, pos);
  size_t start = pos;
  if (!read_any(text, pos)) return false;
  value = text.substr(start, pos - start);
  return true;
}

bool skip_trusted(std::string_view t, size_t& pos, std::string_view& value) {
  skip_space(t, pos);
  size_t start = pos;
  if (pos >= t.size()) return false;
  auto skip_string = [&] {  // pos at the opening quote; false if unterminated
    ++pos;
    while (true) {
      const void* q = std::memchr(t.data() + pos, '"', t.size() - pos);
      if (!q) return false;
      size_t at = static_cast<const char*>(q) - t.data();
      size_t backslashes = 0;
      while (at - backslashes > pos && t[at - backslashes - 1] == '\\') ++backslashes;
      pos = at + 1;
      if (backslashes % 2 == 0) return true;
    }
  };
  char c = t[pos];
  if (c == '"') {
    if (!skip_string()) return false;
  } else if (c == '{' || c == '[') {
    size_t depth = 0;
    while (pos < t.size()) {
      char ch = t[pos];
      if (ch == '"') {
        if (!skip_string()) return false;
        continue;
      }
      if (ch == '{' || ch == '[') ++depth;
      else if (ch == '}' || ch == ']') {
        if (--depth == 0) {
          ++pos;
          break;
        }
      }
      ++pos;
    }
    if (depth != 0) return false;
  } else {
    while (pos < t.size() && t[pos] != ',' && t[pos] != '}' && t[pos] != ']' && !is_space(t[pos])) ++pos;
    if (pos == start) return false;
  }
  value = t.substr(start, pos - start);
  return true;
}

char kind(std::string_view v) {
  if (v.empty()) return 0;
  char c = v[0];
  if (c == '{' || c == '[' || c == '"') return c;
  if (c == 't' || c == 'f') return c;
  if (c == 'n') return 'z';
  if (c == '-' || (c >= '0' && c <= '9')) return 'n';
  return 0;
}

bool field(std::string_view object, std::string_view key, std::string_view& value) {
  size_t pos = 0;
  skip_space(object, pos);
  if (pos >= object.size() || object[pos] != '{') return false;
  ++pos;
  std::string wanted;
  util::append_json_string(wanted, key);
  bool first = true;
  while (true) {
    skip_space(object, pos);
    if (pos >= object.size()) return false;
    if (object[pos] == '}') return false;
    if (!first) {
      if (object[pos] != ',') return false;
      ++pos;
      skip_space(object, pos);
    }
    first = false;
    size_t kstart = pos;
    if (pos >= object.size() || object[pos] != '"' || !read_string(object, pos)) return false;
    std::string_view k = object.substr(kstart, pos - kstart);
    skip_space(object, pos);
    if (pos >= object.size() || object[pos] != ':') return false;
    ++pos;
    std::string_view v;
    if (!read_value(object, pos, v)) return false;
    if (k == wanted) {
      value = v;
      return true;
    }
  }
}

void append_minified(std::string& out, std::string_view v) {
  out.reserve(out.size() + v.size());
  size_t i = 0, run = 0;  // [run, i) is copied in one append
  while (i < v.size()) {
    char c = v[i];
    if (c == '"') {
      ++i;
      while (i < v.size() && v[i] != '"') i += v[i] == '\\' ? 2 : 1;
      i = i < v.size() ? i + 1 : v.size();
    } else if (is_space(c)) {
      out.append(v.data() + run, i - run);
      run = ++i;
    } else {
      ++i;
    }
  }
  out.append(v.data() + run, i - run);
}

void append_text(std::string& out, std::string_view v) {
  if (kind(v) != '"') {
    append_minified(out, v);
    return;
  }
  for (size_t i = 1; i + 1 < v.size(); ++i) {
    char c = v[i];
    if (c != '\\') {
      out += c;
      continue;
    }
    char e = v[++i];
    switch (e) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'u': {
        unsigned cp = 0, lo = 0;
        if (!hex4(v.substr(i + 1), cp)) return;
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 < v.size() && v[i + 1] == '\\' && v[i + 2] == 'u' &&
            hex4(v.substr(i + 3), lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          i += 6;
        }
        if (cp < 0x80) out += static_cast<char>(cp);
        else if (cp < 0x800) {
          out += static_cast<char>(0xC0 | (cp >> 6));
          out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
          out += static_cast<char>(0xE0 | (cp >> 12));
          out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
          out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
          out += static_cast<char>(0xF0 | (cp >> 18));
          out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
          out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
          out += static_cast<char>(0x80 | (cp & 0x3F));
        }
        break;
      }
      default: out += e;
    }
  }
}

bool valid(std::string_view text) {
  size_t pos = 0;
  std::string_view v;
  if (!read_value(text, pos, v)) return false;
  skip_space(text, pos);
  return pos == text.size();
}

namespace {

// One number token of valid JSON at `pos`; `pos` is left just past it.
bool number_fits_numeric(std::string_view t, size_t& pos) {
  constexpr long kMaxBefore = 131072, kMaxAfter = 16383;
  auto digit = [&](size_t i) { return i < t.size() && t[i] >= '0' && t[i] <= '9'; };
  if (t[pos] == '-') ++pos;
  long int_significant = 0, frac_digits = 0, frac_leading_zeros = 0;
  bool nonzero = false;
  for (; digit(pos); ++pos) {
    if (t[pos] != '0' || nonzero) {
      nonzero = true;
      ++int_significant;
    }
  }
  if (pos < t.size() && t[pos] == '.') {
    for (++pos; digit(pos); ++pos) {
      ++frac_digits;
      if (!nonzero && int_significant == 0) {
        if (t[pos] == '0') ++frac_leading_zeros;
        else nonzero = true;
      } else if (t[pos] != '0') {
        nonzero = true;
      }
    }
  }
  long exponent = 0;
  if (pos < t.size() && (t[pos] == 'e' || t[pos] == 'E')) {
    ++pos;
    bool negative = pos < t.size() && t[pos] == '-';
    if (pos < t.size() && (t[pos] == '-' || t[pos] == '+')) ++pos;
    for (; digit(pos); ++pos) exponent = std::min(exponent * 10 + (t[pos] - '0'), 10 * kMaxBefore);  // saturates
    if (negative) exponent = -exponent;
  }
  long before = (int_significant > 0 ? int_significant : -frac_leading_zeros) + exponent;
  long after = frac_digits - exponent;
  return !(nonzero && before > kMaxBefore) && after <= kMaxAfter;
}

}  // namespace

bool fits_numeric(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    char c = text[pos];
    if (c == '"') {  // a string: skip it, escapes included
      for (++pos; pos < text.size() && text[pos] != '"'; ++pos)
        if (text[pos] == '\\') ++pos;
      ++pos;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      if (!number_fits_numeric(text, pos)) return false;
    } else {
      ++pos;
    }
  }
  return true;
}

}  // namespace relay::json_scan
