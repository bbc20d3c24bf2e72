// What the fuzz targets share: property checks that stop the fuzzer (libFuzzer keeps the input),
// and a readable input layout so corpus files can be written by hand.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#define FUZZ_CHECK(cond, what)                                                           \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "property violated: %s (%s:%d)\n", what, __FILE__, __LINE__); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

namespace relay::fuzz {

// Input fields are separated by 0x1e (record separator), parts of a field by 0x1f (unit separator).
inline constexpr char kField = '\x1e';
inline constexpr char kPart = '\x1f';

// Splits `in` at `sep`; field(i) is empty when the input has fewer fields.
class Fields {
 public:
  explicit Fields(std::string_view in, char sep = kField) {
    for (size_t start = 0;;) {
      size_t end = in.find(sep, start);
      parts_.push_back(in.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
      if (end == std::string_view::npos) break;
      start = end + 1;
    }
  }
  std::string_view operator[](size_t i) const { return i < parts_.size() ? parts_[i] : std::string_view{}; }
  size_t size() const { return parts_.size(); }

 private:
  std::vector<std::string_view> parts_;
};

}  // namespace relay::fuzz
