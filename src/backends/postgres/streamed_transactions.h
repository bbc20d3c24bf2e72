// Transactions PostgreSQL streams while they run (pgoutput protocol 2, `streaming 'on'`), held until
// they end: in memory up to a bound shared by all of them, then each in a spill file of its own
// (wal_spill.h). At a transaction's commit it is handed on whole, as one Begin ... Commit run of
// protocol 1 messages, exactly as protocol 1 would have sent it then: so the reader sees every
// transaction at its commit, in commit order, whichever way it came. An aborted transaction, or an
// aborted subtransaction, hands on nothing of what it aborted. Pure: no connection; WalReader feeds it
// what the stream brings. Unit-tested (tests/unit/streamed_transactions_test.cpp) and fuzzed.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "backends/postgres/pgoutput.h"
#include "backends/postgres/wal_spill.h"
#include "relay/result.h"

namespace relay::postgres {

class StreamedTransactions {
 public:
  struct Options {
    std::size_t memory_limit = 16u << 20;  // bytes of changes held in memory, all transactions together
    std::filesystem::path spill_dir;       // where the rest goes
  };
  explicit StreamedTransactions(Options options) : options_(std::move(options)) {}

  // A message the stream brought at `lsn`. True when it belongs to a streamed transaction (kept, or a
  // block's start or end): the caller passes it on only when false. After a commit, replaying() is true.
  // What memory cannot hold is spilled; when that fails (a full disk) the message is kept all the
  // same, memory stays over its bound and spill_trouble() says why.
  Result<bool> take(pgoutput::Lsn lsn, std::string_view message);
  // Why memory is over its bound ("" when it is not): the caller stops reading the stream (nothing
  // is lost: the server waits) and calls make_room() again until it succeeds.
  const std::string& spill_trouble() const { return spill_trouble_; }
  Status make_room();
  // A committed transaction is being handed on.
  bool replaying() const { return replay_ != nullptr; }
  struct Replayed {
    pgoutput::Lsn lsn = 0;
    std::string_view message;  // protocol 1; valid until the next call
  };
  // The next message of the transaction handed on: its Begin, its changes, its Commit; nullopt after
  // the Commit (replaying() is then false).
  Result<std::optional<Replayed>> next_replayed();
  // Drops every transaction held (a new connection: the server streams them again from their start).
  void clear();

  struct Held {
    std::size_t transactions = 0;        // open, streamed and not ended
    std::uint64_t memory_bytes = 0;      // of their changes, in memory
    std::uint64_t spilled_bytes = 0;     // in spill files
    std::optional<std::chrono::steady_clock::time_point> oldest;  // when the oldest open one began to stream
  };
  Held held() const;

 private:
  struct Entry {
    pgoutput::Lsn lsn;
    std::uint32_t xid;  // its (sub)transaction
    std::string bytes;  // protocol 1
  };
  struct Transaction {
    std::uint32_t xid = 0;
    pgoutput::Lsn first_lsn = 0;  // where its first block began: its Begin's position
    std::chrono::steady_clock::time_point began;
    std::vector<Entry> memory;
    std::uint64_t memory_bytes = 0;
    std::optional<SpillFile> spill;  // its older changes, when memory ran short
    std::set<std::uint32_t> aborted;  // subtransactions rolled back: their spilled changes are skipped
  };
  struct Replay {
    std::unique_ptr<Transaction> txn;
    pgoutput::StreamCommit commit;
    enum class Step { begin, spilled, memory, commit } step = Step::begin;
    std::size_t next = 0;  // in txn->memory
  };
  static std::uint64_t cost(const Entry& e) { return e.bytes.size() + sizeof(Entry); }

  Options options_;
  std::map<std::uint32_t, std::unique_ptr<Transaction>> open_;  // by top-level xid
  Transaction* block_ = nullptr;  // the transaction of the block being read
  std::uint64_t memory_bytes_ = 0;
  std::string spill_trouble_;
  std::unique_ptr<Replay> replay_;
  std::string current_;          // the message next_replayed() returned last
  SpillFile::Record record_;     // read back
};

}  // namespace relay::postgres
