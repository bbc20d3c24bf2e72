// Builds a pgoutput or replication message field by field, in network order, as PostgreSQL's
// "Logical Replication Message Formats" page lays them out: the unit tests' input.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace relay::test {

struct Bytes {
  std::string s;
  Bytes& c(char v) { s += v; return *this; }
  Bytes& u16(uint16_t v) { return n(v, 2); }
  Bytes& u32(uint32_t v) { return n(v, 4); }
  Bytes& u64(uint64_t v) { return n(v, 8); }
  Bytes& str(std::string_view v) { s += v; s += '\0'; return *this; }
  Bytes& text(std::string_view v) { c('t').u32(static_cast<uint32_t>(v.size())); s += v; return *this; }
  Bytes& n(uint64_t v, int size) {
    for (int i = size - 1; i >= 0; --i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
    return *this;
  }
};

}  // namespace relay::test
