// The pieces every outbox pipeline shares, driven directly against a real PostgreSQL from many
// threads at once (the sanitizer runs, scripts/sanitize.sh, run these under ThreadSanitizer): the
// connection pool and its waiting turns, the numbering rounds, and the listening session that wakes
// readers when writers notify.
#include <poll.h>

#include <atomic>
#include <set>
#include <thread>

#include "backends/postgres/commit_numbering.h"
#include "backends/postgres/outbox_listener.h"
#include "../integration/fixture.h"
#include "pg/connection_pool.h"

using namespace relay;
using namespace relay::test;
using namespace std::chrono_literals;

namespace {

long long sessions_named(TestDb& db, const std::string& app) {
  return db.number("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" + app + "'");
}

bool readable(int fd, std::chrono::milliseconds within) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(within.count())) == 1;
}

}  // namespace

TEST(PooledPieces, ManyThreadsShareAPoolOfTwoAndEveryStatementGetsItsOwnAnswer) {
  TestDb db;
  const std::string app = "pool-many-" + db.name();
  pg::ConnectionPool pool(db.url(), app, 2);
  pg::PooledSession session(pool);
  constexpr int kThreads = 8, kStatements = 40;
  std::atomic<int> wrong{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kStatements; ++i) {
        int n = t * 1000 + i;
        auto r = i % 2 ? session.exec_cached("SELECT $1::int + 1", {std::to_string(n)})
                       : session.exec("SELECT $1::int + 1", {std::to_string(n)});
        if (!r) ++failed;
        else if (r->int64(0, 0) != n + 1) ++wrong;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(sessions_named(db, app), 2) << "the pool opens at most its size";
}

TEST(PooledPieces, ABrokenConnectionIsNotLentAgain) {
  TestDb db;
  pg::ConnectionPool pool(db.url(), "pool-broken-" + db.name(), 1);
  int first_pid = 0;
  {
    auto lease = pool.borrow(5s);
    ASSERT_TRUE(lease && *lease) << (lease ? "" : lease.error().message);
    first_pid = (*lease)->backend_pid();
    db.exec("SELECT pg_terminate_backend(" + std::to_string(first_pid) + ")");
    ASSERT_TRUE(wait_until([&] { return db.number("SELECT count(*) FROM pg_stat_activity WHERE pid = " + std::to_string(first_pid)) == 0; }, 10s));
    EXPECT_FALSE((*lease)->exec("SELECT 1")) << "the statement on the terminated session fails";
  }
  auto again = pool.borrow(5s);
  ASSERT_TRUE(again && *again) << (again ? "" : again.error().message);
  EXPECT_NE((*again)->backend_pid(), first_pid) << "a new session, not the broken one";
  auto r = (*again)->exec("SELECT 41 + 1");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->int64(0, 0), 42);
}

// A thousand pipelines read a thousand outboxes through a few connections: each statement has a
// home connection, lent when idle, where it is prepared and found again (a plan held once, not once
// per connection); a connection holds at most its bound of plans, the least recently run going first.
TEST(PooledPieces, EachCachedStatementKeepsItsConnectionAndAConnectionHoldsAtMostItsBound) {
  TestDb db;
  pg::ConnectionPool pool(db.url(), "pool-homes-" + db.name(), 2);
  {
    auto a = pool.borrow(5s), b = pool.borrow(5s);  // both connections open
    ASSERT_TRUE(a && *a && b && *b);
  }
  const int statements = static_cast<int>(pg::Connection::kMostCached) + 100;
  auto sql = [](int i) { return "SELECT $1::int + " + std::to_string(i); };
  pg::ConnectionPool::Turn turn;
  turn.notify = [] {};
  std::set<int> pids[2];
  for (int pass = 0; pass < 2; ++pass)
    for (int i = 0; i < statements; ++i) {
      const std::string text = sql(i);
      auto lease = pool.try_borrow(turn, false, 5s, &text);
      ASSERT_TRUE(lease && *lease) << (lease ? "no connection lent" : lease.error().message);
      ASSERT_TRUE(lease->home()) << "both connections idle: the statement's home is lent";
      auto r = (*lease)->exec_cached(text, {"1"});
      ASSERT_TRUE(r) << r.error().message;
      ASSERT_EQ(r->int64(0, 0), i + 1);
      pids[pass].insert((*lease)->backend_pid());
    }
  EXPECT_EQ(pids[1].size(), 2u) << "both connections serve";
  long long prepared = 0;
  auto a = pool.borrow(5s), b = pool.borrow(5s);
  ASSERT_TRUE(a && *a && b && *b);
  for (auto* lease : {&*a, &*b}) {
    auto n = (*lease)->exec("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'relay_cached_%'");
    ASSERT_TRUE(n) << n.error().message;
    prepared += n->int64(0, 0);
    EXPECT_LE(n->int64(0, 0), static_cast<long long>(pg::Connection::kMostCached));
  }
  EXPECT_EQ(prepared, statements) << "each statement prepared on one connection only";

  // One connection, more statements than its bound: the oldest plans go, every answer stays right.
  pg::ConnectionPool one(db.url(), "pool-bound-" + db.name(), 1);
  for (int pass = 0; pass < 2; ++pass)
    for (int i = 0; i < statements; ++i) {
      auto lease = one.borrow(5s);
      ASSERT_TRUE(lease && *lease);
      auto r = (*lease)->exec_cached(sql(i), {"2"});
      ASSERT_TRUE(r) << r.error().message;
      ASSERT_EQ(r->int64(0, 0), i + 2);
    }
  auto lease = one.borrow(5s);
  ASSERT_TRUE(lease && *lease);
  auto n = (*lease)->exec("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'relay_cached_%'");
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->int64(0, 0), static_cast<long long>(pg::Connection::kMostCached));
}

// Readers that must not block (coroutines) queue a turn and are told when a connection comes back;
// long reads (a COPY stream held across waits) never take the last connection.
TEST(PooledPieces, QueuedTurnsAreAllServedAndLongReadsLeaveAConnectionForShortStatements) {
  TestDb db;
  pg::ConnectionPool pool(db.url(), "pool-turns-" + db.name(), 2);
  pg::ConnectionPool::Turn long_turn;
  auto long_lease = pool.try_borrow(long_turn, /*long_read=*/true, 0ms);
  ASSERT_TRUE(long_lease && *long_lease);
  pg::ConnectionPool::Turn second_long;
  std::atomic<bool> second_long_told{false};
  second_long.notify = [&] { second_long_told = true; };
  auto refused = pool.try_borrow(second_long, true, 0ms);
  ASSERT_TRUE(refused);
  EXPECT_FALSE(*refused) << "a second long read would leave short statements no connection";

  constexpr int kBorrowers = 6, kRounds = 25;
  std::atomic<int> served{0}, failed{0};
  std::vector<std::thread> threads;
  for (int b = 0; b < kBorrowers; ++b)
    threads.emplace_back([&] {
      std::mutex mu;
      std::condition_variable cv;
      bool told = false;
      pg::ConnectionPool::Turn turn;
      turn.notify = [&] {
        std::lock_guard lock(mu);
        told = true;
        cv.notify_one();
      };
      for (int i = 0; i < kRounds;) {
        auto lease = pool.try_borrow(turn, false, 0ms);
        if (!lease) {
          ++failed;
          return;
        }
        if (!*lease) {  // queued: wait to be told, then try again
          std::unique_lock lock(mu);
          if (!cv.wait_for(lock, 30s, [&] { return told; })) {
            ++failed;
            pool.forget(turn);
            return;
          }
          told = false;
          continue;
        }
        if (auto r = (*lease)->exec("SELECT 1"); !r) ++failed;
        ++served, ++i;
      }
      pool.forget(turn);
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(served.load(), kBorrowers * kRounds) << "every queued borrower was served through the one short connection";

  *long_lease = pg::ConnectionPool::Lease();  // the first long read ends: its connection comes back
  EXPECT_TRUE(wait_until([&] { return second_long_told.load(); }, 10s)) << "the waiting long read is told";
  auto second = pool.try_borrow(second_long, true, 0ms);
  ASSERT_TRUE(second);
  EXPECT_TRUE(*second) << "and gets a connection";
  pool.forget(second_long);
  pool.forget(long_turn);
}

TEST(PooledPieces, NumberingRoundsAskedFromManyThreadsNumberEveryRowCommittedBeforeTheAsk) {
  TestDb db;
  db.exec("SELECT pgtrickle.create_outbox('ev')");
  postgres::CommitNumbering numbering(db.url(), "numbering-" + db.name());
  constexpr int kThreads = 6, kRows = 10;
  std::atomic<int> unnumbered{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      auto conn = pg::Connection::open(db.url(), "writer");
      if (!conn) {
        ++failed;
        return;
      }
      for (int i = 0; i < kRows; ++i) {
        int id = t * 1000 + i + 1;
        if (!conn->exec("INSERT INTO pgtrickle.outbox_ev (id, payload, kind) VALUES (" + std::to_string(id) +
                        ", '{}', 'event')")) {
          ++failed;
          continue;
        }
        auto wm = numbering.watermark("outbox_ev", &t);
        if (!wm) {
          ++failed;
          continue;
        }
        // The committed row has its number, up to the watermark of a round begun after the commit.
        auto seq = conn->exec("SELECT c.seq FROM pgtrickle.outbox_ev AS o JOIN pgtrickle.outbox_commits AS c "
                              "ON c.outbox = 'outbox_ev' AND c.xid = o.xid WHERE o.id = " + std::to_string(id));
        if (!seq || seq->rows() != 1 || seq->int64(0, 0) > *wm) ++unnumbered;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(unnumbered.load(), 0);
}

TEST(PooledPieces, TheListenerWakesReadersWhenAWriterCommitsOnceTheirWaitingIsRecorded) {
  TestDb db;
  db.exec("SELECT pgtrickle.create_outbox('ev')");
  db.exec("SELECT pgtrickle.create_outbox('other')");
  postgres::CommitNumbering numbering(db.url(), "numbering-" + db.name());
  postgres::OutboxListener listener(db.url(), "listener-" + db.name(), &numbering);
  constexpr int kReaders = 4;
  std::vector<std::unique_ptr<postgres::OutboxListener::Subscription>> readers;
  for (int i = 0; i < kReaders; ++i) readers.push_back(listener.subscribe("outbox_ev"));
  auto other = listener.subscribe("outbox_other");

  // Each reader says it waits, from its own thread, as readers of several pipelines do.
  std::atomic<int> recorded{0};
  std::vector<std::thread> threads;
  for (auto& r : readers)
    threads.emplace_back([&, s = r.get()] {
      int fd = s->ask_to_wait();
      for (int tries = 0; tries < 300; ++tries) {
        readable(fd, 100ms);
        if (auto done = s->waiting_recorded()) {
          if (*done) ++recorded;
          return;
        }
      }
    });
  for (auto& th : threads) th.join();
  ASSERT_EQ(recorded.load(), kReaders) << "every reader's waiting was recorded";
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.outbox_waiters WHERE outbox = 'outbox_ev'"), 1)
      << "recorded once for the outbox, on the listening session";

  for (auto& r : readers) r->clear();
  other->clear();
  db.exec("INSERT INTO pgtrickle.outbox_ev (id, payload, kind) VALUES (1, '{}', 'event')");
  for (auto& r : readers) EXPECT_TRUE(readable(r->fd(), 15s)) << "the writer's notification wakes every reader of the outbox";

  // Once none waits, writers stop notifying.
  for (auto& r : readers) r->stop_waiting();
  EXPECT_TRUE(wait_until([&] { return db.number("SELECT count(*) FROM pgtrickle.outbox_waiters WHERE outbox = 'outbox_ev'") == 0; }, 15s));
}
