// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// What the node's parts share besides the store: the clock they read (injected, so that tests
// drive time) and the notifier the node's threads sleep on.
//
//   Notifier n;
//   uint64_t seen = n.Generation();
//   if (!DoWork()) n.WaitSince(seen, 0.5);   // returns at once if Notify() came since `seen`
//   n.Notify();                             // another thread: new work (wakes every waiter)
//   n.Stop();                               // stopping() is true from now on; wakes every waiter
//
// Thread-safe.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

namespace curia::node {

// Seconds since the Unix epoch (node::Now in production).
using Clock = std::function<double()>;

class Notifier {
 public:
  void Notify() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++generation_;
    }
    cv_.notify_all();
  }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      ++generation_;
    }
    cv_.notify_all();
  }
  bool stopping() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_;
  }
  uint64_t Generation() const {
    std::lock_guard<std::mutex> lock(mu_);
    return generation_;
  }
  // Waits until Notify or Stop after `seen` (at once when one came already), or `seconds`.
  void WaitSince(uint64_t seen, double seconds) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::duration<double>(seconds), [&] { return generation_ != seen || stopping_; });
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t generation_ = 0;
  bool stopping_ = false;
};

}  // namespace curia::node
