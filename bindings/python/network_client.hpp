#pragma once
// The one Python-facing class over any net::Client (Redis, Valkey, memcached, MongoDB), shared by
// the bind_*.cpp files whose factory functions build it.

#include <nanobind/nanobind.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

#include "bridge.hpp"
#include "cachette/net/client.hpp"
#include "cachette/net/detail/engine.hpp"

namespace cachette::python {

/// Seconds (Python configuration) to whole milliseconds, rounded to the nearest.
inline std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0 + 0.5));
}

/// The Python-facing client over any net::Client. The fork policy of every network client
/// lives here: in a forked child (whose parent's I/O thread does not exist) the engine client
/// is rebuilt from its factory on first use; the parent's one is abandoned, never touched.
class NetworkClient {
 public:
  using Queue = std::shared_ptr<net::CompletionQueue>;
  using Factory = std::function<std::unique_ptr<net::Client>()>;

  explicit NetworkClient(Factory factory) : factory_(std::move(factory)) { rebuild(); }
  ~NetworkClient() {
    // In a forked child, a client built by the parent owns threads and locks that do not exist
    // here: destroying it could join or lock them forever. It is abandoned instead.
    if (generation_ != net::detail::Engine::generation()) (void)client_.release();
  }
  NetworkClient(const NetworkClient&) = delete;
  NetworkClient& operator=(const NetworkClient&) = delete;

  net::Client& client() {
    if (generation_ != net::detail::Engine::generation()) rebuild();
    return *client_;
  }
  /// The client built in this process, if any (never the parent's, in a forked child).
  net::Client* existing() const {
    return generation_ == net::detail::Engine::generation() ? client_.get() : nullptr;
  }

  template <class Call>
  nanobind::object call(Call&& call, Reply reply = Reply::bytes) {
    net::Client& c = client();
    return call_async([&](const Queue& q, void* t) { call(c, q, t); }, reply);
  }

 private:
  void rebuild() {
    if (client_ && generation_ != net::detail::Engine::generation()) {
      (void)client_.release();  // bound to the parent's engine
    }
    generation_ = net::detail::Engine::generation();
    client_ = factory_();
  }

  Factory factory_;
  std::unique_ptr<net::Client> client_;
  std::uint64_t generation_ = 0;
};

}  // namespace cachette::python
