#include "cachette/net/detail/engine.hpp"

#include <pthread.h>

#include <atomic>
#include <mutex>

namespace cachette::net::detail {
namespace {

std::mutex g_mutex;
Engine* g_engine = nullptr;
std::atomic<std::uint64_t> g_generation{1};

void after_fork_in_child() {
  // The parent's engine (and its mutexes) are unusable here; leak them and start over.
  new (&g_mutex) std::mutex();
  g_engine = nullptr;
  g_generation.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

Engine::Engine() : work_(asio::make_work_guard(io_)) {
  thread_ = std::thread([this] {
    for (;;) {
      try {
        io_.run();
        return;
      } catch (...) {
        // A handler must never throw; if one does, keep serving the others.
      }
    }
  });
  // The engine lives as long as the process: never joined, so no exit-time ordering issues.
  thread_.detach();
}

Engine& Engine::instance() {
  static std::once_flag registered;
  std::call_once(registered, [] { pthread_atfork(nullptr, nullptr, &after_fork_in_child); });
  std::lock_guard lock(g_mutex);
  if (g_engine == nullptr) g_engine = new Engine();
  return *g_engine;
}

std::uint64_t Engine::generation() {
  return g_generation.load(std::memory_order_relaxed);
}

}  // namespace cachette::net::detail
