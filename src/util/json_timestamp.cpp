#include "util/json_timestamp.h"

#include <ctime>

namespace relay::util {

void append_json_timestamp(std::string& out, double unix_seconds) {
  // Unknown, or beyond what four year digits can write (a created_at of 'infinity'): null.
  if (!(unix_seconds > 0 && unix_seconds < 253402300799.0)) {
    out += "null";
    return;
  }
  auto secs = static_cast<std::time_t>(unix_seconds);
  int ms = static_cast<int>((unix_seconds - static_cast<double>(secs)) * 1000.0 + 0.5);
  if (ms >= 1000) {
    ms -= 1000;
    ++secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  // "YYYY-MM-DDTHH:MM:SS.mmmZ", written digit by digit (this runs once per outbox row).
  char buf[26] = {'"'};
  auto put = [&](int pos, int value, int width) {
    for (int i = width - 1; i >= 0; --i, value /= 10) buf[pos + i] = static_cast<char>('0' + value % 10);
  };
  put(1, tm.tm_year + 1900, 4);
  buf[5] = '-';
  put(6, tm.tm_mon + 1, 2);
  buf[8] = '-';
  put(9, tm.tm_mday, 2);
  buf[11] = 'T';
  put(12, tm.tm_hour, 2);
  buf[14] = ':';
  put(15, tm.tm_min, 2);
  buf[17] = ':';
  put(18, tm.tm_sec, 2);
  buf[20] = '.';
  put(21, ms, 3);
  buf[24] = 'Z';
  buf[25] = '"';
  out.append(buf, 26);
}

}  // namespace relay::util
