#include "cachette/net/detail/engine.hpp"

#include <pthread.h>

#include <asio/error.hpp>
#include <asio/post.hpp>
#include <asio/ssl/error.hpp>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>

namespace cachette::net::detail {
namespace {

std::mutex g_mutex;
Engine* g_engine = nullptr;
std::atomic<std::uint64_t> g_generation{1};

// At exit the I/O thread is stopped and joined before static objects it may touch (asio's
// error categories above all) are destroyed: exit() runs atexit hooks and static destructors
// in the reverse order of their registration and construction.
void stop_at_exit() {
  Engine* engine = nullptr;
  {
    std::lock_guard lock(g_mutex);
    engine = g_engine;
  }
  if (engine != nullptr) engine->stop();
}

void after_fork_in_child() {
  // The parent's engine (and its mutexes) are unusable here; leak them and start over.
  new (&g_mutex) std::mutex();
  g_engine = nullptr;
  g_generation.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

Engine::Engine() : work_(asio::make_work_guard(io_)) {
  // Built before the exit hook is registered, so destroyed after it has run.
  (void)asio::system_category();
  (void)asio::error::get_netdb_category();
  (void)asio::error::get_addrinfo_category();
  (void)asio::error::get_misc_category();
  (void)asio::error::get_ssl_category();
  (void)asio::ssl::error::get_stream_category();
  thread_ = std::thread([this] {
    for (;;) {
      try {
        io_.run();
        break;
      } catch (...) {
        // A handler must never throw; if one does, keep serving the others.
      }
    }
    std::lock_guard lock(finished_mutex_);
    finished_ = true;
    finished_cv_.notify_all();
  });
}

void Engine::stop() {
  if (!thread_.joinable() || thread_.get_id() == std::this_thread::get_id()) return;
  // Let work already queued (closing pools, above all) run out, for a short while at most:
  // a pool nobody closed keeps its reads pending forever, and exit must not wait for it.
  asio::post(io_, [this] { work_.reset(); });
  {
    std::unique_lock lock(finished_mutex_);
    finished_cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return finished_; });
  }
  io_.stop();
  thread_.join();
}

Engine& Engine::instance() {
  static std::once_flag registered;
  std::call_once(registered, [] { pthread_atfork(nullptr, nullptr, &after_fork_in_child); });
  std::lock_guard lock(g_mutex);
  if (g_engine == nullptr) {
    g_engine = new Engine();  // never deleted: pools may outlive any static owner
    static std::once_flag hooked;
    std::call_once(hooked, [] { std::atexit(&stop_at_exit); });
  }
  return *g_engine;
}

std::uint64_t Engine::generation() {
  return g_generation.load(std::memory_order_relaxed);
}

}  // namespace cachette::net::detail
