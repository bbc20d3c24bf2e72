// Capped exponential backoff with full jitter, so many relays retrying at once spread out.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace relay {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, std::uint64_t seed = std::random_device{}())
      : initial_(initial), max_(max), rng_(seed) {}

  // The next wait: uniform in [cap/2, cap] where cap doubles from `initial` up to `max`.
  std::chrono::milliseconds next() {
    auto cap = std::min<std::int64_t>(max_.count(), initial_.count() << std::min(attempt_, 30));
    ++attempt_;
    std::uniform_int_distribution<std::int64_t> dist(cap / 2, cap);
    return std::chrono::milliseconds(dist(rng_));
  }
  void reset() { attempt_ = 0; }
  int attempts() const { return attempt_; }

 private:
  std::chrono::milliseconds initial_, max_;
  std::mt19937_64 rng_;
  int attempt_ = 0;
};

}  // namespace relay
