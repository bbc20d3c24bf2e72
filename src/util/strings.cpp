#include "util/strings.h"

#include <cctype>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <mutex>
#include <numeric>
#include <utility>

namespace relay::util {

std::vector<std::string_view> split_list(std::string_view list, char sep) {
  std::vector<std::string_view> out;
  while (!list.empty()) {
    size_t p = list.find(sep);
    out.push_back(list.substr(0, p));
    if (p == std::string_view::npos) break;
    list.remove_prefix(p + 1);
  }
  return out;
}

bool list_contains(std::string_view list, std::string_view item, char sep) {
  for (auto s : split_list(list, sep))
    if (s == item) return true;
  return false;
}

std::size_t levenshtein(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t prev = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cur = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1)});
      prev = cur;
    }
  }
  return row[b.size()];
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::max<size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    size_t d = levenshtein(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i];
  }
  return out;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

namespace {

bool is_secret_name(std::string_view name) {
  static constexpr std::string_view kWords[] = {"token", "key", "secret", "password", "passwd", "pwd",
                                                "signature", "sig", "auth", "credential"};
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return std::any_of(std::begin(kWords), std::end(kWords), [&](std::string_view w) { return lower.find(w) != std::string::npos; });
}

bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'; }
bool ends_value(char c) { return c == '&' || c == '#' || c == '"' || c == '\'' || std::isspace(static_cast<unsigned char>(c)); }

}  // namespace

namespace {

// Values resolved from references, and each line of a multi-line one, as (text, reference), the
// longest first (a value that holds another is replaced whole before its lines).
std::mutex g_references_mutex;
std::vector<std::pair<std::string, std::string>> g_references;
std::atomic<bool> g_any_reference{false};

// A start of a value this long is hidden too, where a text was cut (a library's error buffer):
// shorter starts are common words and URL schemes ("https:/", "SASL_SS", "-----BE") and tell
// little of a secret; from 8 bytes on, other text rarely holds one by chance.
constexpr size_t kMinFragment = 8;

bool is_word_byte(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// Each value (or line) found in `s` becomes its reference: whole, or a start of at least
// kMinFragment bytes where the text was cut (it ends there, or other text's space or punctuation
// follows); a start followed by more of a word is another value beginning alike
// ("postgresql://other-host"), not this one. Returns whether anything was replaced.
bool replace_resolved_values(std::string& s) {
  if (!g_any_reference.load(std::memory_order_acquire)) return false;
  bool replaced = false;
  std::lock_guard lock(g_references_mutex);
  for (const auto& [value, reference] : g_references) {
    std::string_view head = std::string_view(value).substr(0, kMinFragment);
    for (size_t at = s.find(head); at != std::string::npos;) {
      size_t n = head.size();
      while (n < value.size() && at + n < s.size() && s[at + n] == value[n]) ++n;
      if (n < value.size() && at + n < s.size() && is_word_byte(s[at + n])) {
        at = s.find(head, at + 1);
        continue;
      }
      s.replace(at, n, reference);
      replaced = true;
      at = s.find(head, at + reference.size());
    }
  }
  return replaced;
}

// Numbers, true/false and texts under 4 bytes hold no secret, and hiding them would hide the same
// text everywhere else.
bool worth_hiding(std::string_view text, std::string_view reference) {
  if (text.size() < 4 || text == "true" || text == "false" || reference.find(text) != std::string_view::npos) return false;
  double number;
  auto r = std::from_chars(text.data(), text.data() + text.size(), number);
  return !(r.ec == std::errc() && r.ptr == text.data() + text.size());
}

void remember(std::string_view text, std::string_view reference) {
  if (!worth_hiding(text, reference)) return;
  for (const auto& [v, ref] : g_references)
    if (v == text) return;
  auto at = std::find_if(g_references.begin(), g_references.end(), [&](const auto& e) { return e.first.size() < text.size(); });
  g_references.emplace(at, std::string(text), std::string(reference));
}

}  // namespace

void show_as_reference(std::string_view value, std::string_view reference) {
  std::lock_guard lock(g_references_mutex);
  remember(value, reference);
  // A PEM or a .creds file is quoted line by line as often as whole (a parser names the line it
  // stopped at, escaping turns the line breaks into "\n").
  if (value.find('\n') != std::string_view::npos)
    for (auto line : split_list(value, '\n')) {
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      remember(line, reference);
    }
  g_any_reference.store(!g_references.empty(), std::memory_order_release);
}

bool holds_resolved_value(std::string_view text) {
  std::string copy(text);
  return replace_resolved_values(copy);
}

std::string redact_url(std::string_view url) {
  std::string s(url);
  replace_resolved_values(s);
  // Every URL's user info: scheme://user:password@host, whatever the scheme.
  for (size_t scheme = s.find("://"); scheme != std::string::npos; scheme = s.find("://", scheme + 3)) {
    size_t from = scheme + 3;
    size_t end = from;
    while (end < s.size() && s[end] != '/' && s[end] != '?' && s[end] != '#' && !std::isspace(static_cast<unsigned char>(s[end])) &&
           s[end] != '"' && s[end] != '\'' && s[end] != ',')
      ++end;
    size_t at = s.rfind('@', end == 0 ? 0 : end - 1);
    if (at == std::string::npos || at < from) continue;
    size_t colon = s.find(':', from);
    if (colon != std::string::npos && colon < at) s.replace(colon + 1, at - colon - 1, "***");
  }
  // Query parameters and key=value connection settings whose name says secret: ?token=, &api_key=, password=.
  for (size_t eq = s.find('='); eq != std::string::npos; eq = s.find('=', eq + 1)) {
    size_t name = eq;
    while (name > 0 && is_name_char(s[name - 1])) --name;
    if (name == eq || (name > 0 && s[name - 1] != '?' && s[name - 1] != '&' && s[name - 1] != ';' &&
                       !std::isspace(static_cast<unsigned char>(s[name - 1]))))
      continue;
    if (!is_secret_name(std::string_view(s).substr(name, eq - name))) continue;
    size_t v = eq + 1, end = v;
    if (end < s.size() && s[end] == '\'') {  // a quoted libpq value
      end = s.find('\'', end + 1);
      end = end == std::string::npos ? s.size() : end + 1;
    } else {
      while (end < s.size() && !ends_value(s[end])) ++end;
    }
    if (s.compare(v, end - v, "***") != 0) s.replace(v, end - v, "***");
    eq = v + 2;
  }
  return s;
}

std::string safe_excerpt(std::string_view text, size_t max_bytes) {
  // Redacted before anything else rewrites it, so that a secret is found as it was resolved (with
  // its line breaks); far more than the excerpt, so that one cut at the window's end is still found.
  std::string clean = redact_url(text.substr(0, max_bytes * 4));
  for (char& c : clean) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = ' ';
  }
  if (clean.size() <= max_bytes && text.size() <= max_bytes * 4) return clean;
  size_t cut = std::min(clean.size(), max_bytes);
  while (cut > 0 && (static_cast<unsigned char>(clean[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 character
  clean.resize(cut);
  return clean + "…";
}

bool percent_decode(std::string_view in, std::string& out) {
  auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    int hi = i + 2 < in.size() ? hex(in[i + 1]) : -1, lo = i + 2 < in.size() ? hex(in[i + 2]) : -1;
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

std::string parse_host_port(std::string_view authority, std::string& host, int& port) {
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {  // [::1]:6379
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return "an IPv6 host needs its closing ']'";
    host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return "unexpected text after the host";
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (host.empty()) return "the host is missing";
  if (!port_text.empty()) {
    auto r = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (r.ec != std::errc() || r.ptr != port_text.data() + port_text.size() || port < 1 || port > 65535)
      return "the port is not a number from 1 to 65535";  // not quoted: it may be a password written wrong
  }
  return "";
}

bool is_http_token(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c))) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) return false;
  }
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
    else return false;
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      return false;
    i += len;
  }
  return true;
}

bool valid_text(std::string_view s) { return s.find('\0') == std::string_view::npos && valid_utf8(s); }

}  // namespace relay::util
