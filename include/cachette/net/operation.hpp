#pragma once
/// Building blocks of whole operations (clear_prefix, flush, get_many across servers...): an
/// operation of several round trips is a Continuation. Each of its steps is submitted with the
/// continuation as its target instead of a CompletionQueue; the engine hands the step's Result
/// to Continuation::resume (on the I/O thread, or at once on the submitting thread when the
/// pool is closed), and the operation decides the next step or delivers its one final Result to
/// the caller's queue. Every step is an ordinary request, so each round trip has its own
/// deadline: a stalled server fails the operation within the client's timeout.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "cachette/net/completion.hpp"

namespace cachette::net {

/// The receiver of one step's Result. resume() is called exactly once per step submitted to it.
/// An operation submits its next step as its last action, since the step may resume (and the
/// operation finish and delete itself) before submit returns.
class Continuation {
 public:
  virtual ~Continuation() = default;
  virtual void resume(Result&& result) = 0;
};

/// Where a result goes: a caller's queue with its token, or a continuation (queue empty).
struct Target {
  std::shared_ptr<CompletionQueue> queue;
  void* token = nullptr;
};

/// Hands `result` to `target` (queue push, or continuation resume).
void deliver(const Target& target, Result&& result);

/// Delivers an immediate result (no round trip: flush_expired on self-expiring servers).
inline void complete_now(const std::shared_ptr<CompletionQueue>& queue, void* token,
                         Result&& result) {
  deliver(Target{queue, token}, std::move(result));
}

/// Counters shared by the protocols of one client's connections (read from any thread).
struct HitCounters {
  std::atomic<std::uint64_t> hits{0};
  std::atomic<std::uint64_t> misses{0};
};

/// Runs `parts` steps in parallel (fan-out over servers, chunks of a bulk request) and delivers
/// one merged Result when the last one is in. The first error wins. Deletes itself when done.
class Join {
 public:
  /// Folds part `index`'s successful result into `total`.
  using Merge = std::function<void(std::size_t index, Result&& part, Result& total)>;

  Join(Target target, std::size_t parts, Result initial, Merge merge);
  Join(const Join&) = delete;
  Join& operator=(const Join&) = delete;

  /// The continuation to submit part `index` with. Once the last part resumed, the Join is gone.
  Continuation* part(std::size_t index) { return &parts_[index]; }

 private:
  class Part final : public Continuation {
   public:
    void resume(Result&& result) override { join->finish_part(index, std::move(result)); }
    Join* join = nullptr;
    std::size_t index = 0;
  };

  void finish_part(std::size_t index, Result&& result);

  Target target_;
  Result total_;
  Merge merge_;
  std::vector<Part> parts_;
  std::mutex mutex_;
  std::size_t left_;
};

}  // namespace cachette::net
