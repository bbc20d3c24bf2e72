#include "log/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <ctime>

#include "util/json_escape.h"
#include "util/strings.h"

namespace relay::log {
namespace {

std::atomic<Format> g_format{Format::text};
std::atomic<Level> g_level{Level::info};

std::shared_ptr<spdlog::logger> output() {
  // One shared, thread-safe stderr writer; stdout belongs to the stdout sink.
  static std::shared_ptr<spdlog::logger> out = [] {
    auto l = std::make_shared<spdlog::logger>("relay", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_pattern("%v");
    l->set_level(spdlog::level::trace);
    l->flush_on(spdlog::level::trace);
    return l;
  }();
  return out;
}

const char* level_name(Level level) {
  switch (level) {
    case Level::trace: return "trace";
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
    case Level::off: return "off";
  }
  return "info";
}

void timestamp(std::string& out) {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  out += buf;
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v)
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) return true;
  return false;
}

}  // namespace

bool parse_level(std::string_view text, Level& out) {
  if (text == "trace") out = Level::trace;
  else if (text == "debug") out = Level::debug;
  else if (text == "info") out = Level::info;
  else if (text == "warn" || text == "warning") out = Level::warn;
  else if (text == "error") out = Level::error;
  else if (text == "off") out = Level::off;
  else return false;
  return true;
}

void init(Format format, Level level) {
  g_format = format;
  g_level = level;
  output();
}

Logger::Logger(std::string name) : name_(std::move(name)) {}

bool Logger::enabled(Level level) const { return level >= g_level.load() && level != Level::off; }

Logger Logger::for_pipeline(const std::string& pipeline) {
  Logger l("pipeline." + pipeline);
  l.pipeline_ = pipeline;
  return l;
}

void Logger::write(Level level, std::string_view msg, Fields fields) const {
  if (!enabled(level)) return;
  std::string line;
  line.reserve(128 + msg.size());
  if (g_format.load() == Format::json) {
    line += "{\"ts\":\"";
    timestamp(line);
    line += "\",\"level\":\"";
    line += level_name(level);
    line += "\",\"logger\":";
    util::append_json_string(line, name_);
    if (!pipeline_.empty()) {
      line += ",\"pipeline\":";
      util::append_json_string(line, pipeline_);
    }
    line += ",\"msg\":";
    util::append_json_string(line, msg);
    for (const auto& [k, v] : fields) {
      line += ',';
      util::append_json_string(line, k);
      line += ':';
      util::append_json_string(line, util::redact_url(v));
    }
    line += '}';
  } else {
    timestamp(line);
    line += ' ';
    std::string lvl = level_name(level);
    for (auto& c : lvl) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    line += lvl;
    line += ' ';
    line += name_;
    line += ' ';
    line += msg;
    for (const auto& [k, v] : fields) {
      line += ' ';
      line += k;
      line += '=';
      std::string value = util::redact_url(v);  // an error may quote a URL with its password or token
      if (needs_quotes(value)) util::append_json_string(line, value);
      else line += value;
    }
  }
  output()->info(line);
}

}  // namespace relay::log
