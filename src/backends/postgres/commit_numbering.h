// The relay's numbering rounds (pgtrickle.outbox_watermark(), sql/install/08_commit_order.sql), run
// for all its outbox readers on one session: a reader asks for a watermark, and gets the one of a
// round that began after it asked, run for it or for several readers that asked meanwhile. A round
// after a commit scans every outbox; run per reader, each commit would cost the server that scan
// once per pipeline. The session also remembers when nothing has ended since its last round found
// everything numbered, so an idle database costs each round a comparison.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "pg/connection.h"
#include "relay/result.h"

namespace relay::postgres {

class CommitNumbering {
 public:
  CommitNumbering(std::string postgres_url, std::string application_name)
      : url_(std::move(postgres_url)), app_(std::move(application_name)) {}
  CommitNumbering(const CommitNumbering&) = delete;
  CommitNumbering& operator=(const CommitNumbering&) = delete;

  // The watermark of a numbering round that began after this call: every row committed before the
  // call has a number up to it. Read rows up to it in a later statement (READ COMMITTED).
  Result<std::int64_t> watermark();

 private:
  Result<std::int64_t> run_round();  // on conn_ (opened, or opened again, as needed)

  const std::string url_, app_;
  pg::Connection conn_;  // used by the thread running the round only
  std::mutex mu_;
  std::condition_variable finished_cv_;
  std::uint64_t started_ = 0, finished_ = 0;  // rounds begun and ended
  bool running_ = false;
  Result<std::int64_t> last_ = std::int64_t{0};
};

}  // namespace relay::postgres
