#include "backends/postgres/streamed_transactions.h"

#include <fmt/format.h>

#include <algorithm>

namespace relay::postgres {

namespace po = pgoutput;

namespace {
Error out_of_order(std::string what) { return retriable("the replication stream's streamed transactions: " + std::move(what)); }
}  // namespace

Result<bool> StreamedTransactions::take(po::Lsn lsn, std::string_view message) {
  if (replay_) return permanent("a streamed transaction's message taken while another one is handed on");
  // Most messages belong to whole transactions: let them pass at a glance.
  const char type = message.empty() ? '\0' : message[0];
  if (!block_ && type != 'S' && type != 'E' && type != 'c' && type != 'A') return false;
  auto control = po::decode_stream_control(message);
  if (!control) return control.error();
  if (!*control) {
    if (!block_) return false;  // a whole transaction, or a message outside any
    Entry e{lsn, 0, {}};
    auto xid = po::split_streamed(message, e.bytes);
    if (!xid) return xid.error();
    if (*xid == 0) return true;  // the origin of a replicated transaction: not read
    e.xid = *xid;
    memory_bytes_ += cost(e);
    block_->memory_bytes += cost(e);
    block_->memory.push_back(std::move(e));
    if (memory_bytes_ > options_.memory_limit) (void)make_room();  // a failure: spill_trouble()
    return true;
  }
  if (auto* start = std::get_if<po::StreamStart>(&**control)) {
    if (block_) return out_of_order(fmt::format("a block of transaction {} began inside one of transaction {}", start->xid, block_->xid));
    auto it = open_.find(start->xid);
    if (start->first_segment) {
      if (it != open_.end()) return out_of_order(fmt::format("transaction {} was streamed from its start twice", start->xid));
      auto t = std::make_unique<Transaction>();
      t->xid = start->xid;
      t->first_lsn = lsn;
      t->began = std::chrono::steady_clock::now();
      it = open_.emplace(start->xid, std::move(t)).first;
    } else if (it == open_.end()) {
      return out_of_order(fmt::format("a block of transaction {} came without its first one", start->xid));
    }
    block_ = it->second.get();
    return true;
  }
  if (std::holds_alternative<po::StreamStop>(**control)) {
    if (!block_) return out_of_order("a block ended that had not begun");
    block_ = nullptr;
    return true;
  }
  if (block_) return out_of_order(fmt::format("a transaction ended inside a block of transaction {}", block_->xid));
  if (auto* commit = std::get_if<po::StreamCommit>(&**control)) {
    auto it = open_.find(commit->xid);
    if (it == open_.end()) return out_of_order(fmt::format("transaction {} committed without its changes", commit->xid));
    replay_ = std::make_unique<Replay>(Replay{std::move(it->second), *commit});
    open_.erase(it);
    memory_bytes_ -= replay_->txn->memory_bytes;
    return true;
  }
  const auto& abort = std::get<po::StreamAbort>(**control);
  auto it = open_.find(abort.xid);
  if (it == open_.end()) return true;  // nothing of it held
  Transaction& t = *it->second;
  if (abort.subxid == abort.xid) {
    memory_bytes_ -= t.memory_bytes;
    open_.erase(it);
    return true;
  }
  t.aborted.insert(abort.subxid);
  std::erase_if(t.memory, [&](const Entry& e) {
    if (e.xid != abort.subxid) return false;
    memory_bytes_ -= cost(e);
    t.memory_bytes -= cost(e);
    return true;
  });
  return true;
}

// Moves the biggest in-memory part of a transaction to its spill file until memory is within bound.
// What was written leaves memory, so after a failure a later call carries on where it stopped.
Status StreamedTransactions::make_room() {
  auto failed = [&](Error e) {
    spill_trouble_ = e.message;
    return Status(std::move(e));
  };
  while (memory_bytes_ > options_.memory_limit) {
    auto biggest = std::max_element(open_.begin(), open_.end(),
                                    [](const auto& a, const auto& b) { return a.second->memory_bytes < b.second->memory_bytes; });
    if (biggest == open_.end() || biggest->second->memory_bytes == 0) break;
    Transaction& t = *biggest->second;
    if (!t.spill) {
      auto f = SpillFile::create(options_.spill_dir);
      if (!f) return failed(f.error());
      t.spill.emplace(std::move(*f));
    }
    std::size_t written = 0;
    std::uint64_t freed = 0;
    Status s;
    for (; written < t.memory.size(); ++written) {
      if (s = t.spill->append(t.memory[written].lsn, t.memory[written].xid, t.memory[written].bytes); !s) break;
      freed += cost(t.memory[written]);
    }
    if (written == t.memory.size()) std::vector<Entry>().swap(t.memory);
    else t.memory.erase(t.memory.begin(), t.memory.begin() + static_cast<std::ptrdiff_t>(written));
    memory_bytes_ -= freed;
    t.memory_bytes -= freed;
    if (!s) return failed(s.error());
  }
  spill_trouble_.clear();
  return {};
}

Result<std::optional<StreamedTransactions::Replayed>> StreamedTransactions::next_replayed() {
  using Step = Replay::Step;
  if (!replay_) return std::optional<Replayed>();
  Replay& r = *replay_;
  Transaction& t = *r.txn;
  for (;;) {
    switch (r.step) {
      case Step::begin:
        current_ = po::encode_begin({.final_lsn = r.commit.commit_lsn, .commit_time = r.commit.commit_time, .xid = t.xid});
        if (t.spill)
          if (auto s = t.spill->rewind(); !s) return s.error();
        r.step = t.spill ? Step::spilled : Step::memory;
        return std::optional<Replayed>(Replayed{t.first_lsn, current_});
      case Step::spilled: {
        auto more = t.spill->read(record_);
        if (!more) return more.error();
        if (!*more) {
          r.step = Step::memory;
          continue;
        }
        if (t.aborted.contains(record_.xid)) continue;
        return std::optional<Replayed>(Replayed{record_.lsn, record_.bytes});
      }
      case Step::memory:
        if (r.next < t.memory.size()) {
          const Entry& e = t.memory[r.next++];
          return std::optional<Replayed>(Replayed{e.lsn, e.bytes});
        }
        r.step = Step::commit;
        continue;
      case Step::commit: {
        current_ = po::encode_commit(
            {.flags = r.commit.flags, .commit_lsn = r.commit.commit_lsn, .end_lsn = r.commit.end_lsn, .commit_time = r.commit.commit_time});
        const po::Lsn end = r.commit.end_lsn;
        replay_.reset();  // the transaction's memory and spill file go with it
        return std::optional<Replayed>(Replayed{end, current_});
      }
    }
  }
}

void StreamedTransactions::clear() {
  open_.clear();
  spill_trouble_.clear();
  block_ = nullptr;
  memory_bytes_ = 0;
  replay_.reset();
}

StreamedTransactions::Held StreamedTransactions::held() const {
  Held h;
  h.transactions = open_.size();
  h.memory_bytes = memory_bytes_;
  for (const auto& [xid, t] : open_) {
    if (t->spill) h.spilled_bytes += t->spill->size();
    if (!h.oldest || t->began < *h.oldest) h.oldest = t->began;
  }
  return h;
}

}  // namespace relay::postgres
