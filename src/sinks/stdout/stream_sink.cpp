#include "sinks/stdout/stream_sink.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "sources/outbox/expand.h"

namespace relay {
namespace {

void csv_field(std::string& out, std::string_view v) {
  if (v.find_first_of(",\"\n\r") == std::string_view::npos) {
    out += v;
    return;
  }
  out += '"';
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

// Writes all of `data` to `fd`; on failure the error text.
std::string write_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::strerror(errno);
    }
    off += static_cast<size_t>(n);
  }
  return {};
}

// The length of `fd`'s content up to and including its last newline (0 if it has none).
long long whole_lines_size(int fd, long long size) {
  char chunk[4096];
  for (long long end = size; end > 0;) {
    long long begin = std::max(0LL, end - static_cast<long long>(sizeof chunk));
    ssize_t n = ::pread(fd, chunk, static_cast<size_t>(end - begin), begin);
    if (n <= 0) return size;  // unreadable: leave the file as it is
    for (ssize_t i = n - 1; i >= 0; --i)
      if (chunk[i] == '\n') return begin + i + 1;
    end = begin;
  }
  return 0;
}

class StreamSink final : public Sink {
 public:
  StreamSink(std::string path, std::string format, long long rotate_bytes, int max_files, bool fsync, const log::Logger* log)
      : path_(std::move(path)), format_(std::move(format)), rotate_bytes_(rotate_bytes), max_files_(max_files), fsync_(fsync),
        log_(log) {}

  Status start() override {
    if (path_.empty()) {
      fd_ = STDOUT_FILENO;
      return {};
    }
    return open_file();
  }

  void send(std::span<const Message> batch, std::span<Outcome> outcomes, Deadline) override {
    buf_.clear();
    for (const auto& m : batch) encode_line(m, format_, buf_);
    std::string error = write_batch();
    for (auto& o : outcomes) {
      o.kind = error.empty() ? Outcome::delivered : Outcome::retriable;
      o.error = error;
    }
  }

  void stop(Deadline) override {
    if (fd_ > STDOUT_FILENO) ::close(fd_);
    fd_ = -1;
  }

 private:
  Status open_file() {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) return retriable(fmt::format("cannot open {}: {}", path_, std::strerror(errno)));
    struct stat st {};
    ::fstat(fd_, &st);
    size_ = st.st_size;
    // A relay killed in the middle of a write leaves part of a line that was never acknowledged; its
    // messages are sent again, so cut it off rather than glue the next line to it.
    if (long long whole = whole_lines_size(fd_, size_); whole < size_ && ::ftruncate(fd_, whole) == 0) {
      if (log_)
        log_->warn("The file ended in part of a line (an earlier write was cut short); it is cut back to its last whole line "
                   "and those messages are written again.", {{"path", path_}, {"bytes_cut", std::to_string(size_ - whole)}});
      size_ = whole;
    }
    if (format_ == "csv" && size_ == 0) {
      std::string header(csv_header());
      if (auto e = write_all(fd_, header); !e.empty()) return retriable(fmt::format("cannot write {}: {}", path_, e));
      size_ += static_cast<long long>(header.size());
    }
    return {};
  }

  void rotate() {
    ::close(fd_);
    for (int i = max_files_ - 1; i >= 1; --i)
      ::rename(fmt::format("{}.{}", path_, i).c_str(), fmt::format("{}.{}", path_, i + 1).c_str());
    if (max_files_ >= 1) ::rename(path_.c_str(), (path_ + ".1").c_str());
    else ::unlink(path_.c_str());
    fd_ = -1;
  }

  std::string write_batch() {
    if (fd_ < 0) {
      if (auto s = open_file(); !s) return s.error().message;
    }
    if (fd_ == STDOUT_FILENO) {
      auto e = write_all(fd_, buf_);
      return e.empty() ? e : "cannot write to stdout: " + e;
    }
    if (rotate_bytes_ > 0 && size_ > 0 && size_ + static_cast<long long>(buf_.size()) > rotate_bytes_) {
      rotate();
      if (auto s = open_file(); !s) return s.error().message;
    }
    std::string e = write_all(fd_, buf_);
    if (e.empty() && fsync_ && ::fdatasync(fd_) != 0) e = std::strerror(errno);
    if (!e.empty()) {
      // Take back a partly written batch so a retry does not leave half a line behind.
      if (::ftruncate(fd_, size_) != 0) {
        ::close(fd_);
        fd_ = -1;
      }
      return fmt::format("cannot write {}: {}", path_, e);
    }
    size_ += static_cast<long long>(buf_.size());
    return {};
  }

  std::string path_, format_;
  long long rotate_bytes_ = 0;
  int max_files_ = 10;
  bool fsync_ = true;
  const log::Logger* log_ = nullptr;
  int fd_ = -1;
  long long size_ = 0;
  std::string buf_;
};

}  // namespace

std::string_view csv_header() { return "dedup_key,stream_table,op,key,committed_at,payload\n"; }

void encode_line(const Message& m, std::string_view format, std::string& out) {
  if (format == "json") {
    auto parsed = nlohmann::json::parse(m.body, nullptr, false);
    out += parsed.is_discarded() ? m.body : parsed.dump(2);
    out += '\n';
  } else if (format == "csv") {
    csv_field(out, m.dedup_key);
    out += ',';
    csv_field(out, m.source);
    out += ',';
    out += to_string(m.op);
    out += ',';
    csv_field(out, m.key);
    out += ',';
    std::string ts;
    outbox::append_timestamp(ts, m.committed_at);
    if (ts.size() > 2 && ts.front() == '"') ts = ts.substr(1, ts.size() - 2);
    else ts.clear();
    out += ts;
    out += ',';
    csv_field(out, m.data);
    out += '\n';
  } else {
    out += m.body;
    out += '\n';
  }
}

Result<std::unique_ptr<Sink>> make_stdout_sink(const PipelineConfig& config, const BuildContext&) {
  return std::unique_ptr<Sink>(std::make_unique<StreamSink>("", config.sink().value("format", "jsonl"), 0, 0, false, nullptr));
}

Result<std::unique_ptr<Sink>> make_file_sink(const PipelineConfig& config, const BuildContext& ctx) {
  const auto& s = config.sink();
  return std::unique_ptr<Sink>(std::make_unique<StreamSink>(s.at("path").get<std::string>(), s.value("format", "jsonl"),
                                                            s.value("rotate_bytes", 0LL), s.value("max_files", 10),
                                                            s.value("fsync", true), ctx.log));
}

}  // namespace relay
