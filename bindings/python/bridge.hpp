#pragma once
// The asyncio bridge: one Channel per event loop. A call creates a future on the running loop,
// hands the engine an owned reference to it as the request's token, and returns the future.
// The I/O thread pushes completions to the channel's queue and signals its eventfd; the loop,
// woken through loop.add_reader, drains every completion at once and resolves the futures.
// The I/O thread never touches a Python object: tokens are opaque to it.

#include <nanobind/nanobind.h>

#include <cstdint>
#include <memory>

#include "cachette/net/completion.hpp"
#include "cachette/net/pool.hpp"

namespace cachette::python {

class Channel {
 public:
  explicit Channel(nanobind::handle loop);
  /// The destructor removes the reader that register_reader() added to the loop.
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  /// Registers drain() as the loop's reader of the queue's fd (`self` is this channel).
  void register_reader(const std::shared_ptr<Channel>& self);

  /// The completion queue the engine writes to.
  const std::shared_ptr<net::CompletionQueue>& queue() const { return queue_; }
  /// A new future on this channel's loop (a new reference).
  PyObject* create_future();
  /// Resolves every completed future (the add_reader callback).
  void drain();

  /// Requests submitted on this loop while others of it are in flight wait here for the end
  /// of the loop's current iteration, then go to the I/O thread together (net::SubmitBatch).
  net::SubmitBatch& batch() { return batch_; }
  /// After a submission: if it deferred to the batch, make sure the loop flushes it soon.
  void schedule_flush();
  /// Requests of this loop not yet drained. With none, a new request goes out at once (a lone
  /// caller keeps its latency); with some, it joins the iteration's batch.
  std::size_t pending() const { return pending_; }
  void submitted() { ++pending_; }

  PyObject* loop() const { return loop_.ptr(); }
  std::uint64_t generation() const { return generation_; }

 private:
  nanobind::object loop_;
  nanobind::object create_future_;
  nanobind::object call_soon_;
  nanobind::object flush_;  // the callback handed to call_soon: flushes batch_
  std::shared_ptr<net::CompletionQueue> queue_;
  std::vector<net::Completion> completions_;
  net::SubmitBatch batch_;
  bool flush_scheduled_ = false;
  std::size_t pending_ = 0;
  std::uint64_t generation_;
  int pid_;
};

/// The channel of the running event loop (created and registered on first use). Raises
/// RuntimeError outside a running loop.
Channel& current_channel();

/// What a reply's stored values become in Python: bytes, or str decoded the way the vanilla
/// codec decodes (UTF-8, surrogate escapes for anything else), built straight from the reply.
enum class Reply : std::uintptr_t { bytes = 0, text = 1 };

/// A request's token is its future with the Reply in the low bit (objects are aligned to at
/// least 8 bytes, so the bit is free). Only this file's helpers make and read tokens.
inline void* make_token(PyObject* future, Reply reply) {
  return reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(future) |
                                 static_cast<std::uintptr_t>(reply));
}
inline PyObject* token_future(void* token) {
  return reinterpret_cast<PyObject*>(reinterpret_cast<std::uintptr_t>(token) & ~std::uintptr_t{1});
}
inline Reply token_reply(void* token) {
  return static_cast<Reply>(reinterpret_cast<std::uintptr_t>(token) & 1);
}

/// Submits one request: `submit(queue, token)` must hand the token to the engine or throw.
/// Returns the future (a new reference) that the completion will resolve.
template <class Submit>
nanobind::object call_async(Submit&& submit, Reply reply = Reply::bytes) {
  Channel& channel = current_channel();
  PyObject* future = channel.create_future();
  if (future == nullptr) throw nanobind::python_error();
  Py_INCREF(future);  // the token's reference, released when the completion is drained
  try {
    if (channel.pending() == 0) {
      submit(channel.queue(), make_token(future, reply));
    } else {
      net::SubmitBatch::Scope scope(channel.batch());
      submit(channel.queue(), make_token(future, reply));
    }
    channel.submitted();
  } catch (...) {
    Py_DECREF(future);
    Py_DECREF(future);
    channel.schedule_flush();
    throw;
  }
  channel.schedule_flush();
  return nanobind::steal(future);
}

void bind_bridge(nanobind::module_& m);

}  // namespace cachette::python
