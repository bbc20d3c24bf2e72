#include "backends/stream/stdin_source.h"
#include "backends/registry.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "core/stop_request.h"
#include "util/digest.h"
#include "util/json_scan.h"

namespace relay::stream {

Message stdin_message(std::string_view line) {
  Message m;
  m.op = Op::event;
  m.source = "stdin";
  m.data = std::string(line);
  std::string_view id;
  for (const char* field : {"dedup_key", "event_id"}) {
    if (json_scan::field(line, field, id) && (json_scan::kind(id) == '"' || json_scan::kind(id) == 'n')) {
      json_scan::append_text(m.dedup_key, id);
      if (!m.dedup_key.empty()) return m;
    }
  }
  m.dedup_key = "sha256:" + util::sha256_hex(line);
  return m;
}

namespace {

// Standard input outlives a pipeline restart (a lost database connection): what was read and not
// yet committed is handed out again by the next StdinSource of the process.
struct StdinState {
  std::mutex mutex;
  std::string buffer;
  size_t scanned = 0;
  bool eof = false;
  bool stop_sent = false;
  std::vector<Message> unacked;
};
StdinState& state() {
  static StdinState s;
  return s;
}

class StdinSource final : public Source {
 public:
  StdinSource(const PipelineConfig& config, const BuildContext& ctx)
      : batch_size_(static_cast<size_t>(config.batch_size)), ctx_(ctx) {}

  Status start() override { return {}; }

  Result<Batch> poll(Deadline) override {
    auto& st = state();
    std::lock_guard lock(st.mutex);
    Batch batch;
    if (!st.unacked.empty()) {
      batch.messages = st.unacked;
      return batch;
    }
    while (batch.messages.size() < batch_size_) {
      size_t nl = st.buffer.find('\n', st.scanned);
      if (nl == std::string::npos) {
        st.scanned = st.buffer.size();
        if (st.eof || !read_some(st)) break;
        continue;
      }
      std::string_view line(st.buffer.data(), nl);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.find_first_not_of(" \t") != std::string_view::npos) batch.messages.push_back(stdin_message(line));
      st.buffer.erase(0, nl + 1);
      st.scanned = 0;
    }
    // A last line without a newline still counts.
    if (st.eof && batch.messages.size() < batch_size_ && !st.buffer.empty()) {
      if (st.buffer.find_first_not_of(" \t\r") != std::string::npos) batch.messages.push_back(stdin_message(st.buffer));
      st.buffer.clear();
    }
    st.unacked = batch.messages;
    return batch;
  }

  void wait(Deadline deadline) override {
    auto& st = state();
    bool eof;
    {
      std::lock_guard lock(st.mutex);
      eof = st.eof;
      // The runner waits only after an empty poll, so everything read is committed: stop the relay.
      if (eof && st.unacked.empty() && !st.stop_sent) {
        st.stop_sent = true;
        ctx_.log->info("End of input: every line read is committed; stopping.", {});
        request_relay_stop("the input ended");
      }
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd fds[2] = {{eof ? -1 : 0, POLLIN, 0}, {ctx_.wake_fd, POLLIN, 0}};
    ::poll(fds, 2, static_cast<int>(std::max<long long>(ms, 0)));
  }

  Status ack(const Batch&) override {
    auto& st = state();
    std::lock_guard lock(st.mutex);
    st.unacked.clear();
    return {};
  }
  void stop() override {}

 private:
  // Reads what is there without blocking; false when nothing was.
  static bool read_some(StdinState& st) {
    pollfd fd{0, POLLIN, 0};
    if (::poll(&fd, 1, 0) <= 0) return false;
    char chunk[65536];
    ssize_t n = ::read(0, chunk, sizeof chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return false;
    if (n <= 0) {
      st.eof = true;
      return false;
    }
    st.buffer.append(chunk, static_cast<size_t>(n));
    return true;
  }

  size_t batch_size_;
  BuildContext ctx_;
};

}  // namespace

Result<std::unique_ptr<Source>> make_stdin_source(const PipelineConfig& config, const BuildContext& ctx) {
  return std::unique_ptr<Source>(std::make_unique<StdinSource>(config, ctx));
}

}  // namespace relay::stream
