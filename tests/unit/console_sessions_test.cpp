// The console's sessions and its brake on password guessing (src/console/sessions.h).
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "console/sessions.h"

using namespace relay::console;
using namespace std::chrono_literals;

TEST(ConsoleLogins, FailedLoginsFromOneAddressWaitOutTheMinuteOthersMayStillTry) {
  LoginLimiter limiter(5, 30);
  const auto t0 = Clock::now();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(limiter.wait_seconds("10.0.0.1", t0 + std::chrono::seconds(i)), 0) << i;
    limiter.failed("10.0.0.1", t0 + std::chrono::seconds(i));
  }
  // The sixth waits until the first failure is a minute old.
  EXPECT_EQ(limiter.wait_seconds("10.0.0.1", t0 + 10s), 50);
  EXPECT_EQ(limiter.wait_seconds("10.0.0.2", t0 + 10s), 0);
  EXPECT_EQ(limiter.wait_seconds("10.0.0.1", t0 + 61s), 0);
}

TEST(ConsoleLogins, FailuresFromManyAddressesTogetherAreLimitedToo) {
  LoginLimiter limiter(5, 30);
  const auto t0 = Clock::now();
  for (int i = 0; i < 30; ++i) limiter.failed("10.0.1." + std::to_string(i), t0);
  EXPECT_GT(limiter.wait_seconds("10.0.2.1", t0 + 1s), 0);
  EXPECT_EQ(limiter.wait_seconds("10.0.2.1", t0 + 61s), 0);
}

TEST(ConsoleSessions, ATokenFindsItsSessionUntilItIsUnusedTooLongOrClosed) {
  SessionStore store({.idle = 1s, .lifetime = 3600s, .most = 4});
  std::string token;
  auto s = store.open("ops", relay::pg::Connection(), token);
  EXPECT_EQ(token.size(), 64u);
  EXPECT_EQ(s->csrf.size(), 64u);
  EXPECT_NE(s->csrf, token);
  EXPECT_EQ(store.find(token), s);
  EXPECT_EQ(store.find(token + "0"), nullptr);
  EXPECT_EQ(store.find(""), nullptr);
  std::this_thread::sleep_for(1100ms);
  EXPECT_EQ(store.find(token), nullptr);  // expired, and closed with it
  EXPECT_EQ(store.size(), 0u);
  std::string again;
  store.open("ops", relay::pg::Connection(), again);
  store.close(again);
  EXPECT_EQ(store.find(again), nullptr);
}

TEST(ConsoleSessions, TheOldestSessionGoesWhenTheMostAreOpenAndTokensNeverRepeat) {
  SessionStore store({.idle = 3600s, .lifetime = 3600s, .most = 2});
  std::string first, second, third;
  store.open("a", relay::pg::Connection(), first);
  std::this_thread::sleep_for(5ms);
  store.open("b", relay::pg::Connection(), second);
  store.find(first);  // used since: the second is now the oldest
  std::this_thread::sleep_for(5ms);
  store.open("c", relay::pg::Connection(), third);
  EXPECT_NE(store.find(first), nullptr);
  EXPECT_EQ(store.find(second), nullptr);
  EXPECT_NE(store.find(third), nullptr);
  std::set<std::string> tokens;
  for (int i = 0; i < 1000; ++i) tokens.insert(random_token());
  EXPECT_EQ(tokens.size(), 1000u);
}
