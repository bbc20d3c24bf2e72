// A small JSON scanner over text PostgreSQL produced (jsonb output): finds values as spans of the
// original text, so numbers keep their exact digits (a numeric 42.50 stays 42.50, never a double),
// and copies nothing it does not have to. Every function fails safely on malformed input.
#pragma once

#include <string>
#include <string_view>

namespace relay::json_scan {

// Reads one JSON value starting at `pos` (leading whitespace skipped); on success `value` is its
// exact text and `pos` is just past it.
bool read_value(std::string_view text, size_t& pos, std::string_view& value);

// Like read_value for text known to be valid JSON (PostgreSQL's jsonb output): only tracks strings
// and brackets, several times faster. On malformed text it still stops safely (false or a short span).
bool skip_trusted(std::string_view text, size_t& pos, std::string_view& value);

// The kind of a value span: '{', '[', '"', 'n' (number), 't', 'f', 'z' (null), 0 if malformed.
char kind(std::string_view value);

// Looks up `key` among the top-level fields of an object span.
bool field(std::string_view object, std::string_view key, std::string_view& value);

// Calls f(element) for each element of an array span; false if the span is not a valid array.
template <class F>
bool each_element(std::string_view array, F&& f, bool trusted = false) {
  size_t pos = 0;
  while (pos < array.size() && (array[pos] == ' ' || array[pos] == '\n' || array[pos] == '\t' || array[pos] == '\r')) ++pos;
  if (pos >= array.size() || array[pos] != '[') return false;
  ++pos;
  bool first = true;
  while (true) {
    while (pos < array.size() && (array[pos] == ' ' || array[pos] == '\n' || array[pos] == '\t' || array[pos] == '\r')) ++pos;
    if (pos >= array.size()) return false;
    if (array[pos] == ']') return true;
    if (!first) {
      if (array[pos] != ',') return false;
      ++pos;
    }
    first = false;
    std::string_view v;
    if (!(trusted ? skip_trusted(array, pos, v) : read_value(array, pos, v))) return false;
    f(v);
  }
}

// Calls f(key, value) for each top-level field of an object span, in one pass; `key` is the raw
// quoted key text. False if the span is not a valid object.
template <class F>
bool each_field(std::string_view object, F&& f, bool trusted = false) {
  size_t pos = 0;
  auto space = [&] {
    while (pos < object.size() && (object[pos] == ' ' || object[pos] == '\n' || object[pos] == '\t' || object[pos] == '\r')) ++pos;
  };
  space();
  if (pos >= object.size() || object[pos] != '{') return false;
  ++pos;
  bool first = true;
  while (true) {
    space();
    if (pos >= object.size()) return false;
    if (object[pos] == '}') return true;
    if (!first) {
      if (object[pos] != ',') return false;
      ++pos;
    }
    first = false;
    std::string_view k, v;
    if (!read_value(object, pos, k) || k.empty() || k[0] != '"') return false;
    space();
    if (pos >= object.size() || object[pos] != ':') return false;
    ++pos;
    if (!(trusted ? skip_trusted(object, pos, v) : read_value(object, pos, v))) return false;
    f(k, v);
  }
}

// Appends `value` without insignificant whitespace.
void append_minified(std::string& out, std::string_view value);

// Appends a value as plain text: a string's unescaped contents, anything else minified.
void append_text(std::string& out, std::string_view value);

// Whether `text` is one complete, valid JSON value.
bool valid(std::string_view text);

// Whether every number in valid JSON `text` fits PostgreSQL's numeric, which jsonb stores numbers
// as: at most 131072 digits before the decimal point and 16383 after (JSON itself has no limit).
bool fits_numeric(std::string_view text);

}  // namespace relay::json_scan
