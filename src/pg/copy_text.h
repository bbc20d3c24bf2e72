// PostgreSQL's COPY text format: one row per line, a tab between fields, \N for NULL, and
// backslash escapes for backslash, tab, newline and carriage return. The outbox is read in it and
// inbox rows are written in it (COPY is PostgreSQL's fastest way in and out of a table).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace relay::pg {

// Reads one field of a COPY text line from `p` (up to the next tab or `end`) into `out`, undoing
// the escapes; `p` moves past the tab. `is_null` tells \N from an empty string.
void read_copy_field(const char*& p, const char* end, std::string& out, bool& is_null);

// Appends `text` as one field, escaped. The text must not hold NUL bytes (PostgreSQL text cannot).
void append_copy_field(std::string& out, std::string_view text);
inline void append_copy_null(std::string& out) { out += "\\N"; }

}  // namespace relay::pg
