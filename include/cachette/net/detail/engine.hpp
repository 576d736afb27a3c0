#pragma once
// The process's I/O thread. Private: pools use it; nothing else should.

#include <asio/io_context.hpp>
#include <cstdint>
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

 private:
  Engine();
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
};

}  // namespace cachette::net::detail
