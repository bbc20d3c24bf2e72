// Header values made from names and identities a database role chose (a table's name, a message's
// identity "<stream_table>:<position>:<n>"): the one rule every sink applies before such a value
// becomes a header, a property or an attribute, so that it can never end its line and add one.
#pragma once

#include <string>
#include <string_view>

namespace relay::util {

// Whether `value` can stand in a header line as it is: no control character (0x00-0x1F, 0x7F), so
// no CR, LF or NUL. For values the relay passes along but does not build (application headers).
bool fits_header(std::string_view value);

// Appends `value` fit for a header: each control character (0x00-0x1F, 0x7F) and each '%' as %XX
// (uppercase hex), every other byte as is. Injective (decoding %XX gives the value back) and
// deterministic, so a message keeps one Idempotency-Key / Nats-Msg-Id across retries; a value
// without '%' or control characters is unchanged.
void append_header_safe(std::string& out, std::string_view value);

// `value` itself when it has nothing to encode, else its encoding, written into `buf`. The view is
// of `value` or of `buf`, so it is NUL-terminated when `value` is.
std::string_view header_safe(std::string_view value, std::string& buf);
std::string header_safe(std::string_view value);

}  // namespace relay::util
