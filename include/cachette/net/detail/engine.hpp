#pragma once
// The process's I/O thread. Private: pools use it; nothing else should.

#include <asio/io_context.hpp>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace cachette::net::detail {

class Engine {
 public:
  /// The engine of this process, started on first use. A forked child gets a fresh one: the
  /// parent's thread does not exist in the child, so its engine is abandoned, never touched.
  static Engine& instance();
  /// Changes in a forked child; objects bound to an older engine must be rebuilt.
  static std::uint64_t generation();

  asio::io_context& context() { return io_; }
  /// Stops the I/O thread and waits for it (called once, at process exit).
  void stop();

 private:
  Engine();
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
  std::mutex finished_mutex_;
  std::condition_variable finished_cv_;
  bool finished_ = false;  // the I/O thread's run() has returned
};

}  // namespace cachette::net::detail
