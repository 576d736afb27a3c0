#pragma once
/// The sans-I/O heart of a connection pool: which connection a batch of requests goes to, the
/// queue of requests waiting for a connection, deadlines, reconnect decisions and backoff. It is
/// driven by events (submit, transport up, bytes read, write done, failure, clock tick, close)
/// and answers with Actions for the shell to carry out (write on a link, (re)connect a link after
/// a delay, drop a link's transport). It never touches a socket or a timer and never reads the
/// clock: the caller passes `now`, so unit tests drive it with scripted events and a manual
/// clock. pool.cpp is the asio shell around it.
///
/// Policy: requests complete in submission order across the pool: a batch stays on the link of
/// the previous batch while that link has requests in flight; only an idle pool moves to the
/// least busy ready link (the others are warm spares). While no link is ready but some are still
/// trying, requests wait (in order, each until its deadline); once every link has failed since it
/// was last up, new requests fail at once with the last connection error. A request without its
/// reply by its deadline fails with Errc::timeout and its link is dropped and reopened (in-order
/// protocols cannot skip a reply). A link that was up reconnects at once; repeated failures back
/// off from 50 ms, doubling to 1 s.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cachette/error.hpp"
#include "cachette/net/connection.hpp"
#include "cachette/options.hpp"

namespace cachette::net {

struct DispatcherOptions {
  std::size_t links = 1;
  std::chrono::milliseconds timeout = kDefaults.timeout;  ///< per request (and per handshake)
  std::function<std::unique_ptr<Protocol>()> make_protocol;
  std::string name;  ///< prefixes error messages, e.g. "redis 127.0.0.1:6379"
};

class Dispatcher {
 public:
  /// What the shell must do after an event, in this order: drop, connect, write.
  struct Actions {
    std::vector<std::size_t> drop;  ///< close the link's transport (its requests already failed)
    std::vector<std::pair<std::size_t, std::chrono::milliseconds>> connect;  ///< link, after
    std::vector<std::size_t> write;  ///< the link has bytes to write (Connection::begin_write)
  };

  explicit Dispatcher(DispatcherOptions options);

  std::size_t links() const { return links_.size(); }
  Connection& connection(std::size_t link) { return links_[link]->connection; }
  bool closed() const { return closed_; }
  /// Requests in flight or waiting: the shell keeps ticking while true.
  bool busy() const;

  /// First event: every link connects at once.
  void start(Actions& actions);
  /// Requests whose encoded bytes are `bytes` (both left empty).
  void submit(std::string& bytes, std::vector<Request>& requests, CompletionSink& sink,
              Actions& actions);
  /// The link's transport is connected (TCP/TLS): its handshake starts.
  void on_transport_up(std::size_t link, Clock::time_point now, Actions& actions);
  /// `n` bytes were read into connection(link).read_buffer(). `extend` restarts the oldest
  /// request's timeout (replies that stream for long). Protocol failures drop the link.
  void on_read(std::size_t link, std::size_t n, Clock::time_point now, bool extend,
               CompletionSink& sink, Actions& actions);
  /// The write started by the shell finished; more may be queued.
  void on_written(std::size_t link, Actions& actions);
  /// The link failed (connect, read, write, timeout): fails what it carried and decides when
  /// it reconnects.
  void on_failure(std::size_t link, Errc code, const std::string& reason, CompletionSink& sink,
                  Actions& actions);
  /// Fails requests past their deadline (dropping the links they wait on).
  void on_tick(Clock::time_point now, CompletionSink& sink, Actions& actions);
  /// Fails everything with Errc::closed; the dispatcher then refuses new requests.
  void close(CompletionSink& sink, Actions& actions);

  struct Stats {
    std::atomic<std::uint64_t> requests{0}, errors{0}, timeouts{0}, connects{0}, connected{0};
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Link {
    explicit Link(std::unique_ptr<Protocol> protocol) : connection(std::move(protocol)) {}
    Connection connection;
    bool failed_since_up = false;
    bool connecting = false;
    std::chrono::milliseconds backoff{0};
  };

  bool all_down() const;
  void fail(std::vector<Request>& requests, Errc code, const std::string& message,
            CompletionSink& sink);
  void on_ready(std::size_t link, Actions& actions);

  DispatcherOptions options_;
  std::vector<std::unique_ptr<Link>> links_;
  std::size_t current_ = static_cast<std::size_t>(-1);  // the link the last batch went to
  std::string waiting_bytes_;                           // submitted while no link was ready
  std::vector<Request> waiting_;
  Error last_error_{Errc::connection, "not connected yet"};
  bool closed_ = false;
  Stats stats_;
};

}  // namespace cachette::net
