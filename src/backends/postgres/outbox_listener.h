// The relay's one LISTEN session for new outbox rows (channel pgtrickle_outbox_new, the outbox's
// name as payload), shared by all its outbox readers: it wakes the readers of the outbox a
// notification names, and records on its session which outboxes readers wait for (writers notify
// only while someone waits: sql/install/08_commit_order.sql, outbox_waiters). Once an outbox's
// waiting is recorded, it runs a numbering round a second for it until every transaction that was
// running then has ended: that round announces rows whose writers did not see the waiting in time
// (a transaction that wrote before it and commits later). So waiting readers cost the server one
// session and no statement each; a reader only reads when rows may have come.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/event_fd.h"
#include "pg/connection.h"

namespace relay::postgres {

class CommitNumbering;
}  // namespace relay::postgres
namespace relay {
class Executor;
}
namespace relay::postgres {

class OutboxListener {
 public:
  // `numbering`: the relay's numbering rounds (the one a second runs there); `executor`: where the
  // readers it wakes wait.
  OutboxListener(std::string postgres_url, std::string application_name, CommitNumbering* numbering,
                 Executor* executor = nullptr);
  ~OutboxListener();
  OutboxListener(const OutboxListener&) = delete;
  OutboxListener& operator=(const OutboxListener&) = delete;

  // One reader's interest in one outbox.
  class Subscription {
   public:
    ~Subscription();
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    // Readable when rows of the outbox may have come: a notification named it, or the listening
    // session was (re)opened or lost (notifications may have been missed: read again).
    int fd() const { return woken_.fd(); }
    void clear() { woken_.drain(); }
    // Asks the listening session to say that this reader waits for rows: from the moment that is
    // committed, writers notify. Gives an fd readable once waiting_recorded() has the answer.
    int ask_to_wait();
    // Whether the waiting was said (true) or could not be (false: the session is down, and the
    // reader looks again every poll interval meanwhile); nothing while the session is saying it.
    std::optional<bool> waiting_recorded();
    // This reader reads again: once no reader of the outbox waits, writers stop notifying (said
    // in the background).
    void stop_waiting();

   private:
    friend class OutboxListener;
    void ring(EventFd& fd);  // signals it, and resumes the reader waiting for it
    Subscription(OutboxListener& owner, std::string outbox) : owner_(owner), outbox_(std::move(outbox)) {}
    OutboxListener& owner_;
    const std::string outbox_;
    EventFd woken_;
    EventFd recorded_;              // the waiting asked for was recorded (or could not be)
    bool waiting_ = false;          // under owner_.mu_
    std::uint64_t wants_round_ = 0; // under owner_.mu_: the round that records the waiting asked for
  };

  std::unique_ptr<Subscription> subscribe(const std::string& outbox);

 private:
  struct Outbox {
    std::vector<Subscription*> readers;
    int waiting = 0;        // readers of it that wait
    bool recorded = false;  // the session says it waits (outbox_waiters)
    // Transactions before this id may have written without seeing the waiting (0: none): the
    // outbox is numbered each second until they have all ended.
    std::uint64_t unnotified_until = 0;
  };

  void run();
  bool connect();
  // Records on the session what changed in the outboxes' waiting (one statement for all of them);
  // `stopping`: that none waits any more.
  void record_waiting(bool stopping = false);
  // The numbering round of the outboxes some writers may not have notified.
  void number_unnotified();
  // Signals the subscriptions whose waiting was recorded (or could not be).
  void tell_recorded();
  // Without a session: the waiting asked for so far could not be said (the readers poll meanwhile).
  void give_up_recording();
  void wake(const std::string& outbox);
  void wake_all();
  void set_waiting(Subscription& s, bool waiting);

  const std::string url_, app_;
  CommitNumbering* numbering_;
  Executor* executor_;
  pg::Connection conn_;  // the listener thread's only
  EventFd requested_fd_, stop_fd_;
  std::thread thread_;

  std::mutex mu_;
  std::map<std::string, Outbox> outboxes_;
  std::uint64_t requested_ = 0, recorded_round_ = 0;  // waiting changes asked for / recorded (or given up)
  bool session_ok_ = false;
  bool stopping_ = false;
};

}  // namespace relay::postgres
