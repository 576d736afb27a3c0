#pragma once
/// What the I/O thread hands back for each request, and the queue it hands it through.
///
/// A CompletionQueue belongs to one consumer (an asyncio event loop in the Python binding, a
/// test thread in C++). The I/O thread appends completions in batches and signals the queue's
/// eventfd once per batch, and only when it is not signalled already; the consumer waits on the
/// fd (epoll, loop.add_reader, poll) and drains everything at once.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "cachette/error.hpp"

namespace cachette::net {

/// The outcome of one request, in a protocol-neutral shape.
struct Result {
  enum class Kind : std::uint8_t {
    nil,        ///< absent key / null reply
    ok,         ///< success without a value
    integer,    ///< `integer`
    value,      ///< `value`
    ttl_value,  ///< `integer` (remaining ms, -1 = no expiry) and `value`
    list,       ///< `integer` (e.g. a cursor) and `items`
    values,     ///< `items[i]` with `present[i]` != 0 when found, in request order (get_many)
    error,      ///< `error_code` and the message in `value`
  };
  Kind kind = Kind::nil;
  Errc error_code = Errc::protocol;
  std::int64_t integer = 0;
  std::string value;
  std::vector<std::string> items;
  std::vector<std::uint8_t> present;  ///< for Kind::values

  void set_error(Errc code, std::string message) {
    if (kind == Kind::error) return;  // the first error of a request wins
    kind = Kind::error;
    error_code = code;
    value = std::move(message);
  }
};

struct Completion {
  void* token = nullptr;  ///< the caller's handle, returned untouched
  Result result;
};

class CompletionQueue {
 public:
  CompletionQueue();
  ~CompletionQueue();
  CompletionQueue(const CompletionQueue&) = delete;
  CompletionQueue& operator=(const CompletionQueue&) = delete;

  /// Readable (level-triggered) while completions may be waiting.
  int fd() const { return fd_; }

  /// Producer side: appends `batch` (emptied) and signals once if needed.
  void push(std::vector<Completion>& batch);
  void push(Completion completion);

  /// Consumer side: clears the signal, then moves every waiting completion into `out`
  /// (which is cleared first). Returns the number drained.
  std::size_t drain(std::vector<Completion>& out);

  /// Blocks until the fd is readable or `timeout` passes; for consumers without an event loop.
  bool wait(std::chrono::milliseconds timeout) const;

 private:
  void signal();

  int fd_ = -1;
  std::atomic<bool> signalled_{false};
  std::mutex mutex_;
  std::vector<Completion> items_;
};

}  // namespace cachette::net
