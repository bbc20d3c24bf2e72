// Logging: one logger per component ("relay", "pipeline.<name>"), text or JSON lines on stderr.
// Messages are sentences followed by key=value fields; never payloads above debug, never secrets.
#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace spdlog { class logger; }

namespace relay::log {

enum class Format { text, json };
enum class Level { trace, debug, info, warn, error, off };

// Parses "trace|debug|info|warn|warning|error|off"; false when unknown.
bool parse_level(std::string_view text, Level& out);
void init(Format format, Level level);

using Field = std::pair<std::string_view, std::string>;
using Fields = std::initializer_list<Field>;

class Logger {
 public:
  explicit Logger(std::string name);
  // A pipeline's logger: JSON lines also carry "pipeline":"<name>".
  static Logger for_pipeline(const std::string& pipeline);
  void debug(std::string_view msg, Fields fields = {}) const { write(Level::debug, msg, fields); }
  void info(std::string_view msg, Fields fields = {}) const { write(Level::info, msg, fields); }
  void warn(std::string_view msg, Fields fields = {}) const { write(Level::warn, msg, fields); }
  void error(std::string_view msg, Fields fields = {}) const { write(Level::error, msg, fields); }
  bool enabled(Level level) const;
  const std::string& name() const { return name_; }

 private:
  void write(Level level, std::string_view msg, Fields fields) const;
  std::string name_;
  std::string pipeline_;
};

}  // namespace relay::log
