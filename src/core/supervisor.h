// The supervisor keeps the running pipelines equal to the desired set: the SQL catalog (reloaded on
// LISTEN pgtrickle_relay_config and by a periodic full resync, since notifications are lost across
// reconnects) plus the pipelines of the TOML file (reloaded when the file changes, and both on
// request_reload(): SIGHUP).
#pragma once

#include <atomic>
#include <map>
#include <set>
#include <memory>
#include <optional>
#include <string>

#include "config/file_config.h"
#include "core/pipeline_runner.h"
#include "core/relay_context.h"
#include "log/log.h"

namespace relay {

class Supervisor {
 public:
  Supervisor(RelayContext& relay, std::optional<std::string> config_path);
  ~Supervisor();
  // Runs until request_stop(); then stops every pipeline (each drains its batch) and returns.
  void run();
  void request_stop();
  // Re-reads the TOML file and the catalog now (changed pipelines restart); callable from any thread.
  void request_reload();

  std::chrono::milliseconds resync_interval{30000};
  // The shortest time between two reads of the catalog, however many notifications arrive.
  std::chrono::milliseconds reload_interval{200};

 private:
  void reconcile(std::vector<PipelineConfig> desired);
  bool load_file(std::vector<PipelineConfig>& out);
  // Sleeps `d`, waking on stop, and on a notification unless `wake_on_notify` is false.
  void wait(std::chrono::milliseconds d, bool wake_on_notify = true);
  void rebalance();

  RelayContext& relay_;
  std::optional<std::string> config_path_;
  log::Logger log_{"relay"};
  std::map<std::string, std::unique_ptr<PipelineRunner>> runners_;
  std::map<std::string, std::string> reported_problems_;
  std::string reported_groups_;  // the other groups' pipelines, as last said
  std::atomic<bool> stop_{false};
  std::atomic<bool> reload_requested_{false};
  bool force_file_reload_ = false;
  int wake_fd_ = -1;
  int control_socket_ = -1;
  long long file_mtime_ = 0;
  std::chrono::steady_clock::time_point last_hand_over_{};
  std::vector<PipelineConfig> file_pipelines_;
};

}  // namespace relay
