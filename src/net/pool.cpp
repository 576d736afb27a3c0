// The asio shell around Connection: sockets, TLS, timers, reconnects. Everything here except
// Pool::submit/close/stats runs on the I/O thread.

#include "cachette/net/pool.hpp"

#include <algorithm>
#include <cstdio>

#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/post.hpp>
#include <asio/ssl.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "cachette/net/connection.hpp"
#include "cachette/net/detail/engine.hpp"

namespace cachette::net {
namespace {

using Handler = std::function<void(const std::error_code&, std::size_t)>;

class Transport {
 public:
  virtual ~Transport() = default;
  virtual void read_some(asio::mutable_buffer buffer, Handler handler) = 0;
  virtual void write(asio::const_buffer buffer, Handler handler) = 0;
  virtual void close() = 0;
};

template <class Socket>
class PlainTransport final : public Transport {
 public:
  explicit PlainTransport(Socket socket) : socket_(std::move(socket)) {}
  void read_some(asio::mutable_buffer b, Handler h) override {
    socket_.async_read_some(b, std::move(h));
  }
  void write(asio::const_buffer b, Handler h) override {
    asio::async_write(socket_, b, std::move(h));
  }
  void close() override {
    std::error_code ignored;
    socket_.close(ignored);
  }

 private:
  Socket socket_;
};

class TlsTransport final : public Transport {
 public:
  explicit TlsTransport(asio::ssl::stream<asio::ip::tcp::socket>* stream) : stream_(stream) {}
  void read_some(asio::mutable_buffer b, Handler h) override {
    stream_->async_read_some(b, std::move(h));
  }
  void write(asio::const_buffer b, Handler h) override {
    asio::async_write(*stream_, b, std::move(h));
  }
  void close() override {
    std::error_code ignored;
    stream_->lowest_layer().close(ignored);
  }

 private:
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket>> stream_;
};

std::string describe(const std::error_code& ec) {
  return ec.message();
}

}  // namespace

struct Pool::Io {
  struct Link {
    explicit Link(asio::io_context& io, std::unique_ptr<Protocol> protocol)
        : connection(std::move(protocol)), timer(io) {}
    Connection connection;
    std::shared_ptr<Transport> transport;  // handlers hold it too, so it outlives them
    asio::steady_timer timer;              // connect timeout, then reconnect backoff
    std::uint64_t generation = 0;          // bumped on every (re)connect: stale handlers check it
    bool failed_since_up = false;
    bool connecting = false;
    std::chrono::milliseconds backoff{0};
  };

  Io(Pool& pool, asio::io_context& context)
      : owner(pool), io(context), tick(context), resolver(context) {}

  Pool& owner;
  asio::io_context& io;
  asio::steady_timer tick;
  bool ticking = false;
  asio::ip::tcp::resolver resolver;
  std::unique_ptr<asio::ssl::context> tls;
  std::vector<std::unique_ptr<Link>> links;
  std::string batch_bytes;  // swapped with the submission buffer
  std::vector<Request> batch_requests;
  std::string waiting_bytes;  // submitted while no connection was ready
  std::vector<Request> waiting_requests;
  Error last_error{Errc::connection, "not connected yet"};
  bool closed = false;
  std::atomic<std::uint64_t> requests{0}, errors{0}, timeouts{0}, connects{0}, connected{0};
};

namespace {

using Io = Pool::Io;
using Link = Pool::Io::Link;

void link_failed(const std::shared_ptr<Pool>& pool, Io& io, Link& link, Errc code,
                 std::string reason);

void fail_requests(Io& io, std::vector<Request>& requests, Errc code, const std::string& message) {
  CompletionSink sink;
  for (Request& r : requests) {
    Result result;
    result.set_error(code, message);
    sink.add(r, std::move(result));
  }
  io.errors += requests.size();
  if (code == Errc::timeout) io.timeouts += requests.size();
  requests.clear();
  sink.flush();
}

bool all_down(const Io& io) {
  for (const auto& link : io.links) {
    if (link->connection.state() == Connection::State::ready || !link->failed_since_up)
      return false;
  }
  return true;
}

void connect(const std::shared_ptr<Pool>& pool, Io& io, Link& link);
void start_read(const std::shared_ptr<Pool>& pool, Io& io, Link& link);
void ensure_tick(const std::shared_ptr<Pool>& pool, Io& io);

void kick_write(const std::shared_ptr<Pool>& pool, Io& io, Link& link) {
  if (!link.transport || link.connecting) return;
  const std::string* out = link.connection.begin_write();
  if (out == nullptr) return;
  const std::uint64_t gen = link.generation;
  std::shared_ptr<Transport> t = link.transport;
  t->write(asio::buffer(*out), [pool, &io, &link, gen, t](const std::error_code& ec, std::size_t) {
    if (gen != link.generation) return;
    link.connection.on_written();
    if (ec) {
      link_failed(pool, io, link, Errc::connection, "write failed: " + describe(ec));
      return;
    }
    kick_write(pool, io, link);
  });
}

void on_ready(const std::shared_ptr<Pool>& pool, Io& io, Link& link) {
  link.failed_since_up = false;
  link.backoff = std::chrono::milliseconds(0);
  ++io.connects;
  ++io.connected;
  if (!io.waiting_requests.empty()) {
    link.connection.enqueue(io.waiting_bytes, io.waiting_requests);
  }
  kick_write(pool, io, link);
}

void start_read(const std::shared_ptr<Pool>& pool, Io& io, Link& link) {
  const std::uint64_t gen = link.generation;
  std::span<char> room = link.connection.read_buffer(16 << 10);
  std::shared_ptr<Transport> t = link.transport;
  t->read_some(asio::buffer(room.data(), room.size()),
               [pool, &io, &link, gen, t](const std::error_code& ec, std::size_t n) {
                 if (gen != link.generation) return;
                 if (ec) {
                   link_failed(pool, io, link, Errc::connection,
                               ec == asio::error::eof ? "the server closed the connection"
                                                      : "read failed: " + describe(ec));
                   return;
                 }
                 const bool was_ready = link.connection.state() == Connection::State::ready;
                 CompletionSink sink;
                 const bool ok = link.connection.on_read(n, sink);
                 sink.flush();
                 if (!ok) {
                   const Error& f = link.connection.failure();
                   link_failed(pool, io, link, f.code(), f.what());
                   return;
                 }
                 if (!was_ready && link.connection.state() == Connection::State::ready) {
                   on_ready(pool, io, link);
                 }
                 start_read(pool, io, link);
               });
}

void connected(const std::shared_ptr<Pool>& pool, Io& io, Link& link) {
  link.connecting = false;
  link.timer.cancel();
  link.connection.on_connected(Clock::now() + pool->options().timeout);
  if (link.connection.state() == Connection::State::ready) on_ready(pool, io, link);
  start_read(pool, io, link);
  kick_write(pool, io, link);
  ensure_tick(pool, io);
}

void connect(const std::shared_ptr<Pool>& pool, Io& io, Link& link) {
  if (io.closed) return;
  const std::uint64_t gen = ++link.generation;
  link.connecting = true;
  const PoolOptions& options = pool->options();
  link.timer.expires_after(options.connect_timeout);
  link.timer.async_wait([pool, &io, &link, gen](const std::error_code& ec) {
    if (ec || gen != link.generation || !link.connecting) return;
    link_failed(pool, io, link, Errc::timeout, "connect timed out");
  });

  const Endpoint& ep = options.endpoint;
  if (!ep.unix_path.empty()) {
    auto socket = std::make_shared<asio::local::stream_protocol::socket>(io.io);
    socket->async_connect(
        asio::local::stream_protocol::endpoint(ep.unix_path),
        [pool, &io, &link, gen, socket](const std::error_code& ec) {
          if (gen != link.generation) return;
          if (ec) {
            link_failed(pool, io, link, Errc::connection, "connect failed: " + describe(ec));
            return;
          }
          link.transport = std::make_shared<PlainTransport<asio::local::stream_protocol::socket>>(
              std::move(*socket));
          connected(pool, io, link);
        });
    return;
  }
  io.resolver.async_resolve(
      ep.host, std::to_string(ep.port),
      [pool, &io, &link, gen](const std::error_code& ec,
                              asio::ip::tcp::resolver::results_type results) {
        if (gen != link.generation) return;
        if (ec) {
          link_failed(pool, io, link, Errc::connection, "cannot resolve host: " + describe(ec));
          return;
        }
        if (io.tls) {
          auto* stream = new asio::ssl::stream<asio::ip::tcp::socket>(io.io, *io.tls);
          auto transport = std::make_shared<TlsTransport>(stream);  // owns the stream
          link.transport = transport;
          const std::string& host = pool->options().endpoint.host;
          SSL_set_tlsext_host_name(stream->native_handle(), host.c_str());
          stream->set_verify_callback(asio::ssl::host_name_verification(host));
          asio::async_connect(
              stream->lowest_layer(), results,
              [pool, &io, &link, gen, stream, transport](const std::error_code& ec2, const auto&) {
                if (gen != link.generation) return;
                if (ec2) {
                  link_failed(pool, io, link, Errc::connection, "connect failed: " + describe(ec2));
                  return;
                }
                stream->lowest_layer().set_option(asio::ip::tcp::no_delay(true));
                stream->async_handshake(
                    asio::ssl::stream_base::client,
                    [pool, &io, &link, gen, transport](const std::error_code& ec3) {
                      if (gen != link.generation) return;
                      if (ec3) {
                        link_failed(pool, io, link, Errc::connection,
                                    "TLS handshake failed: " + describe(ec3));
                        return;
                      }
                      connected(pool, io, link);
                    });
              });
          return;
        }
        auto socket = std::make_shared<asio::ip::tcp::socket>(io.io);
        asio::async_connect(
            *socket, results,
            [pool, &io, &link, gen, socket](const std::error_code& ec2, const auto&) {
              if (gen != link.generation) return;
              if (ec2) {
                link_failed(pool, io, link, Errc::connection, "connect failed: " + describe(ec2));
                return;
              }
              socket->set_option(asio::ip::tcp::no_delay(true));
              link.transport =
                  std::make_shared<PlainTransport<asio::ip::tcp::socket>>(std::move(*socket));
              connected(pool, io, link);
            });
      });
}

void on_tick(const std::shared_ptr<Pool>& pool, Io& io) {
  io.ticking = false;
  if (io.closed) return;
  const Clock::time_point now = Clock::now();
  bool busy = false;
  const auto seconds = std::chrono::duration<double>(pool->options().timeout).count();
  for (auto& link : io.links) {
    std::optional<Clock::time_point> oldest = link->connection.oldest_deadline();
    if (oldest && *oldest <= now) {
      char reason[96];
      std::snprintf(reason, sizeof reason, "no reply within %.3g s", seconds);
      link_failed(pool, io, *link, Errc::timeout, reason);
    }
    if (link->connection.in_flight() > 0) busy = true;
  }
  if (!io.waiting_requests.empty()) {
    // Requests are queued in deadline order: fail the expired prefix.
    std::size_t expired = 0;
    while (expired < io.waiting_requests.size() && io.waiting_requests[expired].deadline <= now) {
      ++expired;
    }
    if (expired > 0) {
      std::size_t expired_bytes = 0;
      for (std::size_t i = 0; i < expired; ++i) expired_bytes += io.waiting_requests[i].size;
      std::vector<Request> late(std::make_move_iterator(io.waiting_requests.begin()),
                                std::make_move_iterator(io.waiting_requests.begin() + expired));
      io.waiting_requests.erase(io.waiting_requests.begin(), io.waiting_requests.begin() + expired);
      io.waiting_bytes.erase(0, expired_bytes);
      char reason[96];
      std::snprintf(reason, sizeof reason, "no connection within %.3g s", seconds);
      fail_requests(io, late, Errc::timeout, reason);
    }
    busy = busy || !io.waiting_requests.empty();
  }
  if (busy) ensure_tick(pool, io);
}

void ensure_tick(const std::shared_ptr<Pool>& pool, Io& io) {
  if (io.ticking || io.closed) return;
  io.ticking = true;
  auto period = pool->options().timeout / 10;
  period = std::clamp(period, std::chrono::milliseconds(5), std::chrono::milliseconds(100));
  io.tick.expires_after(period);
  io.tick.async_wait([pool, &io](const std::error_code& ec) {
    if (ec) {
      io.ticking = false;
      return;
    }
    on_tick(pool, io);
  });
}

void drain(const std::shared_ptr<Pool>& pool, Io& io, std::string& bytes,
           std::vector<Request>& requests) {
  io.requests += requests.size();
  if (io.closed) {
    bytes.clear();
    fail_requests(io, requests, Errc::closed, "the client is closed");
    return;
  }
  // Everything goes to the first ready connection, so the server runs requests in the order
  // they were submitted (a put followed by a fetch that did not await it still sees the put).
  // The other connections are warm standbys: a dropped connection fails over at once.
  Link* best = nullptr;
  for (auto& link : io.links) {
    if (link->connection.state() == Connection::State::ready) {
      best = link.get();
      break;
    }
  }
  if (best != nullptr) {
    best->connection.enqueue(bytes, requests);
    kick_write(pool, io, *best);
  } else if (all_down(io)) {
    bytes.clear();
    fail_requests(io, requests, io.last_error.code(), io.last_error.what());
    return;
  } else {
    // Still connecting: held until a connection is ready, the pool goes down, or they expire.
    io.waiting_bytes.append(bytes);
    bytes.clear();
    for (Request& r : requests) io.waiting_requests.push_back(std::move(r));
    requests.clear();
  }
  ensure_tick(pool, io);
}

void link_failed(const std::shared_ptr<Pool>& pool, Io& io, Link& link, Errc code,
                 std::string reason) {
  const bool was_ready = link.connection.state() == Connection::State::ready;
  if (was_ready) --io.connected;
  ++link.generation;
  link.connecting = false;
  link.timer.cancel();
  if (link.transport) {
    link.transport->close();
    link.transport.reset();
  }
  const std::string message = pool->options().name + ": " + reason;
  const std::size_t lost = link.connection.in_flight();
  CompletionSink sink;
  link.connection.on_closed(code, message, sink);
  sink.flush();
  io.errors += lost;
  if (code == Errc::timeout) io.timeouts += lost;
  io.last_error = Error(code, message);
  if (io.closed) return;
  // A connection that was working is retried at once; repeated failures back off.
  link.failed_since_up = true;
  if (!was_ready) {
    link.backoff = link.backoff.count() == 0
                       ? std::chrono::milliseconds(50)
                       : std::min(link.backoff * 2, std::chrono::milliseconds(1000));
  }
  if (all_down(io) && !io.waiting_requests.empty()) {
    io.waiting_bytes.clear();
    fail_requests(io, io.waiting_requests, io.last_error.code(), io.last_error.what());
  }
  if (link.backoff.count() == 0) {
    asio::post(io.io, [pool, &io, &link, gen = link.generation] {
      if (gen == link.generation) connect(pool, io, link);
    });
    return;
  }
  const std::uint64_t gen = link.generation;
  link.timer.expires_after(link.backoff);
  link.timer.async_wait([pool, &io, &link, gen](const std::error_code& ec) {
    if (ec || gen != link.generation) return;
    connect(pool, io, link);
  });
}

}  // namespace

Pool::Pool(PoolOptions options) : options_(std::move(options)) {}

Pool::~Pool() = default;

std::shared_ptr<Pool> Pool::create(PoolOptions options) {
  if (options.size == 0) options.size = 1;
  std::shared_ptr<Pool> pool(new Pool(std::move(options)));
  detail::Engine& engine = detail::Engine::instance();
  pool->io_ = std::make_unique<Io>(*pool, engine.context());
  Io& io = *pool->io_;
  const Endpoint& ep = pool->options_.endpoint;
  if (ep.tls) {
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1);
    std::error_code ec;
    if (!ep.tls_ca_file.empty()) {
      ctx->load_verify_file(ep.tls_ca_file, ec);
      if (ec) throw Error(Errc::invalid_argument, "cannot load tls_ca_file: " + ec.message());
    } else {
      ctx->set_default_verify_paths(ec);
    }
    ctx->set_verify_mode(asio::ssl::verify_peer);
    if (!ep.tls_cert_file.empty()) {
      ctx->use_certificate_chain_file(ep.tls_cert_file, ec);
      if (ec) throw Error(Errc::invalid_argument, "cannot load tls_cert_file: " + ec.message());
      ctx->use_private_key_file(ep.tls_key_file.empty() ? ep.tls_cert_file : ep.tls_key_file,
                                asio::ssl::context::pem, ec);
      if (ec) throw Error(Errc::invalid_argument, "cannot load tls_key_file: " + ec.message());
    }
    io.tls = std::move(ctx);
  }
  for (std::size_t i = 0; i < pool->options_.size; ++i) {
    io.links.push_back(std::make_unique<Link>(engine.context(), pool->options_.make_protocol()));
  }
  asio::post(engine.context(), [pool] {
    for (auto& link : pool->io_->links) connect(pool, *pool->io_, *link);
  });
  return pool;
}

void Pool::schedule_drain() {
  asio::post(io_->io, [self = shared_from_this()] {
    Io& io = *self->io_;
    {
      std::lock_guard lock(self->submit_mutex_);
      io.batch_bytes.swap(self->submit_bytes_);
      io.batch_requests.swap(self->submit_requests_);
      self->scheduled_ = false;
    }
    drain(self, io, io.batch_bytes, io.batch_requests);
  });
}

void Pool::reject_closed(const std::shared_ptr<CompletionQueue>& queue, void* token) {
  Completion c{token, {}};
  c.result.set_error(Errc::closed, options_.name + ": the client is closed");
  queue->push(std::move(c));
}

void Pool::close() {
  {
    std::lock_guard lock(submit_mutex_);
    if (closed_) return;
    closed_ = true;
  }
  asio::post(io_->io, [self = shared_from_this()] {
    Io& io = *self->io_;
    {
      std::lock_guard lock(self->submit_mutex_);
      io.batch_bytes.swap(self->submit_bytes_);
      io.batch_requests.swap(self->submit_requests_);
    }
    io.closed = true;
    fail_requests(io, io.batch_requests, Errc::closed,
                  self->options_.name + ": the client is closed");
    io.batch_bytes.clear();
    fail_requests(io, io.waiting_requests, Errc::closed,
                  self->options_.name + ": the client is closed");
    io.waiting_bytes.clear();
    io.tick.cancel();
    for (auto& link : io.links) {
      ++link->generation;
      link->timer.cancel();
      if (link->transport) link->transport->close();
      CompletionSink sink;
      link->connection.on_closed(Errc::closed, self->options_.name + ": the client is closed",
                                 sink);
      sink.flush();
      link->transport.reset();
    }
    io.connected = 0;
  });
}

PoolStats Pool::stats() const {
  PoolStats s;
  s.requests = io_->requests.load();
  s.errors = io_->errors.load();
  s.timeouts = io_->timeouts.load();
  s.connects = io_->connects.load();
  s.connected = io_->connected.load();
  return s;
}

}  // namespace cachette::net
