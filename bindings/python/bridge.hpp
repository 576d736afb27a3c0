#pragma once
// The asyncio bridge: one Channel per event loop. A call creates a future on the running loop,
// hands the engine an owned reference to it as the request's token, and returns the future.
// The I/O thread pushes completions to the channel's queue and signals its eventfd; the loop,
// woken through loop.add_reader, drains every completion at once and resolves the futures.
// The I/O thread never touches a Python object: tokens are opaque to it.

#include <nanobind/nanobind.h>

#include <memory>

#include "cachette/net/completion.hpp"

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

  PyObject* loop() const { return loop_.ptr(); }
  std::uint64_t generation() const { return generation_; }

 private:
  nanobind::object loop_;
  nanobind::object create_future_;
  std::shared_ptr<net::CompletionQueue> queue_;
  std::vector<net::Completion> batch_;
  std::uint64_t generation_;
  int pid_;
};

/// The channel of the running event loop (created and registered on first use). Raises
/// RuntimeError outside a running loop.
Channel& current_channel();

/// Submits one request: `submit(queue, token)` must hand the token to the engine or throw.
/// Returns the future (a new reference) that the completion will resolve.
template <class Submit>
nanobind::object call_async(Submit&& submit) {
  Channel& channel = current_channel();
  PyObject* future = channel.create_future();
  if (future == nullptr) throw nanobind::python_error();
  Py_INCREF(future);  // the token's reference, released when the completion is drained
  try {
    submit(channel.queue(), static_cast<void*>(future));
  } catch (...) {
    Py_DECREF(future);
    Py_DECREF(future);
    throw;
  }
  return nanobind::steal(future);
}

void bind_bridge(nanobind::module_& m);

}  // namespace cachette::python
