#include "backends/stream/stream_sink.h"
#include "backends/registry.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "config/host_paths.h"
#include "util/json_timestamp.h"

namespace relay::stream {
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

// The file sink marks the files it creates with this extended attribute, and cuts back (the
// torn-line repair), renames or deletes (rotation) only files that carry it. It lives on the file
// itself: it survives restarts and renames, and a pipeline's config cannot put it on a file.
constexpr const char* kOwnerXattr = "user.pgtrickle-relay";

bool relay_owned(int fd) { return ::fgetxattr(fd, kOwnerXattr, nullptr, 0) >= 0; }
// By name, without following a symlink (a link is never the relay's).
bool relay_owned(const std::string& path) { return ::lgetxattr(path.c_str(), kOwnerXattr, nullptr, 0) >= 0; }
bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

class StreamSink final : public Sink {
 public:
  StreamSink(std::string path, std::string format, long long rotate_bytes, int max_files, bool fsync, const log::Logger* log,
             const HostAccess* limits)
      : path_(std::move(path)), format_(std::move(format)), rotate_bytes_(rotate_bytes), max_files_(max_files), fsync_(fsync),
        log_(log), limits_(limits) {}

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
  // Creates the directories missing above the file, as `mkdir -p` would. For a pipeline defined in
  // SQL only below the operator's --sql-file-dir: one component at a time from a directory inside
  // it, never through a symlink, never "..".
  Status create_parent_dirs() {
    auto slash = path_.rfind('/');
    if (slash == std::string::npos || slash == 0) return {};
    struct stat st {};
    if (::stat(path_.substr(0, slash).c_str(), &st) == 0) return {};  // there (what it is, open() finds out)
    std::vector<std::string> missing;  // deepest first
    std::string base = path_.substr(0, slash);
    while (true) {
      auto s = base.rfind('/');
      missing.push_back(base.substr(s == std::string::npos ? 0 : s + 1));
      base = s == std::string::npos ? "." : s == 0 ? "/" : base.substr(0, s);
      if (::stat(base.c_str(), &st) == 0) break;
      if (errno != ENOENT) return retriable(fmt::format("cannot create the directories of {}: {}: {}", path_, base, std::strerror(errno)));
    }
    if (!S_ISDIR(st.st_mode))
      return retriable(fmt::format("cannot create the directory of {} for key \"path\": {} is not a directory", path_, base));
    if (limits_) {
      for (const auto& c : missing)
        if (c == "..")
          return fatal(fmt::format("key \"path\": {} climbs out of a directory that does not exist (\"..\"); a pipeline defined in SQL "
                                   "names its file directly under the operator's --sql-file-dir", path_));
      if (auto s = parent_under(limits_->file_dir, base + "/" + missing.back(), "key \"path\"", "--sql-file-dir"); !s) return s;
    }
    int dir = ::open(base.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    std::string made = base;
    for (auto c = missing.rbegin(); c != missing.rend() && dir >= 0; ++c) {
      if (c->empty() || *c == ".") continue;
      made += (made.back() == '/' ? "" : "/") + *c;
      if (::mkdirat(dir, c->c_str(), 0755) != 0 && errno != EEXIST) {
        int err = errno;
        ::close(dir);
        // Retried: the operator may create it or fix the rights meanwhile.
        std::string why = fmt::format("cannot create the directory {} for key \"path\": {}", made, std::strerror(err));
        if (err == EACCES || err == EPERM || err == EROFS || err == ENOTDIR)
          why += fmt::format("; create it, or let the relay's user write in {}", base);
        return retriable(why);
      }
      if (log_) log_->info("Created a directory for the file.", {{"directory", made}});
      int next = ::openat(dir, c->c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      ::close(dir);
      dir = next;
    }
    if (dir < 0) return retriable(fmt::format("cannot create the directories of {}: {}", path_, std::strerror(errno)));
    ::close(dir);
    return {};
  }

  // A pipeline defined in SQL writes only under the operator's --sql-file-dir, never through a
  // symlink, and never to a file with other names (a hard link to a file elsewhere).
  Status open_file() {
    if (auto s = create_parent_dirs(); !s) return s;
    if (limits_) {
      if (auto s = parent_under(limits_->file_dir, path_, "key \"path\"", "--sql-file-dir"); !s) return s;
    }
    int flags = O_RDWR | O_APPEND | O_CLOEXEC | (limits_ ? O_NOFOLLOW : 0);
    fd_ = ::open(path_.c_str(), flags | O_CREAT | O_EXCL, 0644);
    bool created = fd_ >= 0;
    if (!created && errno == EEXIST) fd_ = ::open(path_.c_str(), flags);
    if (fd_ < 0) {
      if (errno == ELOOP && limits_)
        return fatal(fmt::format("cannot open {}: it is a symbolic link, which a pipeline defined in SQL may not write through", path_));
      return retriable(fmt::format("cannot open {}: {}", path_, std::strerror(errno)));
    }
    struct stat st {};
    ::fstat(fd_, &st);
    if (!S_ISREG(st.st_mode) || (limits_ && st.st_nlink > 1)) {
      close_file();
      return fatal(fmt::format("cannot write {}: {}", path_,
                               S_ISREG(st.st_mode) ? "it has other hard links, which a pipeline defined in SQL may not write through"
                                                   : "it is not a regular file"));
    }
    if (created && ::fsetxattr(fd_, kOwnerXattr, "1", 1, 0) != 0 && log_)
      log_->warn("Cannot mark the new file as the relay's (the filesystem does not support user extended attributes): it will "
                 "not be rotated nor repaired after a crash.", {{"path", path_}, {"error", std::strerror(errno)}});
    owned_ = relay_owned(fd_);
    size_ = st.st_size;
    // A relay killed in the middle of a write leaves part of a line that was never acknowledged; its
    // messages are sent again. In a file of the relay's, cut it off; in anyone else's file nothing
    // is cut: a newline ends their last line before the relay's lines follow.
    if (long long whole = whole_lines_size(fd_, size_); whole < size_) {
      if (owned_ && ::ftruncate(fd_, whole) == 0) {
        if (log_)
          log_->warn("The file ended in part of a line (an earlier write was cut short); it is cut back to its last whole line "
                     "and those messages are written again.", {{"path", path_}, {"bytes_cut", std::to_string(size_ - whole)}});
        size_ = whole;
      } else if (!owned_) {
        if (auto e = write_all(fd_, "\n"); !e.empty()) return retriable(fmt::format("cannot write {}: {}", path_, e));
        if (log_)
          log_->warn("The file, which the relay did not create, ends without a newline: a newline is added before the relay's "
                     "lines, and nothing of it is cut.", {{"path", path_}});
        size_ += 1;
      }
    }
    if (format_ == "csv" && size_ == 0) {
      std::string header(csv_header());
      if (auto e = write_all(fd_, header); !e.empty()) return retriable(fmt::format("cannot write {}: {}", path_, e));
      size_ += static_cast<long long>(header.size());
    }
    return {};
  }

  void close_file() {
    ::close(fd_);
    fd_ = -1;
  }

  // Rotation renames the relay's files one step down and deletes the oldest: it refuses (and the
  // batch waits) when the current file or a name it would overwrite is not the relay's.
  std::string rotate() {
    if (!owned_)
      return fmt::format("cannot rotate {}: the relay did not create it (it carries no {} attribute), so it neither renames "
                         "nor deletes it; move it away or choose another path", path_, kOwnerXattr);
    for (int i = 1; i <= max_files_; ++i) {
      std::string name = fmt::format("{}.{}", path_, i);
      if (exists(name) && !relay_owned(name))
        return fmt::format("cannot rotate {}: {} exists and was not written by the relay, and rotation would replace it; "
                           "move it away", path_, name);
    }
    close_file();
    for (int i = max_files_ - 1; i >= 1; --i)
      ::rename(fmt::format("{}.{}", path_, i).c_str(), fmt::format("{}.{}", path_, i + 1).c_str());
    if (max_files_ >= 1) ::rename(path_.c_str(), (path_ + ".1").c_str());
    else ::unlink(path_.c_str());
    return {};
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
      if (auto e = rotate(); !e.empty()) return e;
      if (auto s = open_file(); !s) return s.error().message;
    }
    std::string e = write_all(fd_, buf_);
    if (e.empty() && fsync_ && ::fdatasync(fd_) != 0) e = std::strerror(errno);
    if (!e.empty()) {
      // Take back a partly written batch so a retry does not leave half a line behind; a file of
      // someone else's is not cut (a newline ends the half line when it is opened again).
      if (!owned_ || ::ftruncate(fd_, size_) != 0) close_file();
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
  const HostAccess* limits_ = nullptr;  // a pipeline defined in SQL: only under limits_->file_dir
  int fd_ = -1;
  bool owned_ = false;  // the file carries kOwnerXattr
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
    util::append_json_timestamp(ts, m.committed_at);
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
  return std::unique_ptr<Sink>(std::make_unique<StreamSink>("", config.sink_section().text("format"), 0, 0, false, nullptr, nullptr));
}

Result<std::unique_ptr<Sink>> make_file_sink(const PipelineConfig& config, const BuildContext& ctx) {
  const ConfigSection s = config.sink_section();
  return std::unique_ptr<Sink>(std::make_unique<StreamSink>(s.text("path"), s.text("format"),
                                                            s.integer("rotate_bytes"), s.integer("max_files"),
                                                            s.flag("fsync"), ctx.log, ctx.host_access));
}

}  // namespace relay::stream
