// The JSON scanner on hostile text. It decides what the inbox stores as jsonb and reads fields out
// of broker messages and HTTP bodies, so on UTF-8 text it must accept exactly what a strict parser
// (and so PostgreSQL's jsonb) accepts, and every span it returns must be a valid value.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "util/json_scan.h"
#include "util/strings.h"

namespace js = relay::json_scan;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  bool valid = js::valid(text);
  // Text PostgreSQL can hold (the strict parser stops at a NUL byte); the scanner caps nesting at
  // 10000 levels, which shorter text cannot reach.
  if (relay::util::valid_text(text) && size < 10000) {
    bool strict = nlohmann::json::accept(text);
    if (valid && !strict) {
      // Numbers beyond a double are still JSON (jsonb keeps them as numeric); only the strict
      // parser's doubles overflow.
      try {
        (void)nlohmann::json::parse(text);
      } catch (const nlohmann::json::out_of_range& e) {
        strict = e.id == 406;  // number overflow
      } catch (const nlohmann::json::exception&) {
      }
    }
    if (valid != strict) {
      std::fprintf(stderr, "json_scan says %s, a strict parser says %s\n", valid ? "valid" : "invalid", strict ? "valid" : "invalid");
      FUZZ_CHECK(false, "json_scan::valid agrees with a strict JSON parser");
    }
  }

  size_t pos = 0;
  std::string_view v;
  if (js::read_value(text, pos, v)) {
    FUZZ_CHECK(pos <= text.size() && js::valid(v), "read_value returns a valid value");
    FUZZ_CHECK(js::kind(v) != 0, "a valid value has a kind");
    std::string minified, plain;
    js::append_minified(minified, v);
    FUZZ_CHECK(js::valid(minified), "minifying keeps a value valid");
    js::append_text(plain, v);
    if (js::kind(v) == '{') {
      js::each_field(v, [&](std::string_view key, std::string_view value) {
        FUZZ_CHECK(js::kind(key) == '"' && js::valid(value), "fields are a key and a valid value");
        // Lookups match keys escaped as jsonb writes them; keys with other escapes are not found.
        if (key.find('\\') != std::string_view::npos) return;
        std::string name;
        js::append_text(name, key);
        std::string_view found;
        FUZZ_CHECK(js::field(v, name, found) && js::valid(found), "a field can be looked up by its name");
      });
    } else if (js::kind(v) == '[') {
      js::each_element(v, [&](std::string_view e) { FUZZ_CHECK(js::valid(e), "elements are valid values"); });
    }
  }
  // The trusted scanner must stop safely on anything.
  pos = 0;
  if (js::skip_trusted(text, pos, v)) FUZZ_CHECK(pos <= text.size() && v.size() <= text.size(), "trusted spans stay in the text");
  js::each_element(text, [](std::string_view) {}, true);
  js::each_field(text, [](std::string_view, std::string_view) {}, true);
  return 0;
}
