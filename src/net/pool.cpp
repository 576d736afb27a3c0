// The asio shell around the Dispatcher (dispatcher.hpp): sockets, TLS, timers. The dispatcher
// decides; this file carries its decisions out. Everything here except Pool::submit/close/stats
// runs on the I/O thread.

#include "cachette/net/pool.hpp"

#include <algorithm>

#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/post.hpp>
#include <asio/ssl.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "cachette/net/detail/engine.hpp"
#include "cachette/net/dispatcher.hpp"

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
  // The I/O side of one link: its transport and timer. Its state machine is the dispatcher's.
  struct Link {
    explicit Link(asio::io_context& io) : timer(io) {}
    std::shared_ptr<Transport> transport;  // handlers hold it too, so it outlives them
    asio::steady_timer timer;              // connect timeout, then reconnect backoff
    std::uint64_t generation = 0;          // bumped on every (re)connect: stale handlers check it
    bool connecting = false;
  };

  Io(Pool& pool, asio::io_context& context, DispatcherOptions options)
      : owner(pool), io(context), tick(context), resolver(context), dispatcher(std::move(options)) {
    for (std::size_t i = 0; i < dispatcher.links(); ++i)
      links.push_back(std::make_unique<Link>(io));
  }

  Pool& owner;
  asio::io_context& io;
  asio::steady_timer tick;
  bool ticking = false;
  asio::ip::tcp::resolver resolver;
  std::unique_ptr<asio::ssl::context> tls;
  Dispatcher dispatcher;
  std::vector<std::unique_ptr<Link>> links;
  std::string batch_bytes;  // swapped with the submission buffer
  std::vector<Request> batch_requests;
};

namespace {

using Io = Pool::Io;
using Actions = Dispatcher::Actions;

void connect(const std::shared_ptr<Pool>& pool, Io& io, std::size_t link);
void start_read(const std::shared_ptr<Pool>& pool, Io& io, std::size_t link);
void ensure_tick(const std::shared_ptr<Pool>& pool, Io& io);

void kick_write(const std::shared_ptr<Pool>& pool, Io& io, std::size_t link);

// Carries out the dispatcher's decisions, then delivers the completions it produced.
void apply(const std::shared_ptr<Pool>& pool, Io& io, Actions& actions, CompletionSink& sink) {
  for (std::size_t link : actions.drop) {
    Io::Link& l = *io.links[link];
    ++l.generation;
    l.connecting = false;
    l.timer.cancel();
    if (l.transport) {
      l.transport->close();
      l.transport.reset();
    }
  }
  for (const auto& step : actions.connect) {
    // Copies rather than a structured binding: clang 14 cannot capture bindings.
    const auto link = step.first;
    const auto delay = step.second;
    Io::Link& l = *io.links[link];
    const std::uint64_t gen = l.generation;
    if (delay.count() == 0) {
      asio::post(io.io, [pool, &io, &l, link, gen] {
        if (gen == l.generation) connect(pool, io, link);
      });
    } else {
      l.timer.expires_after(delay);
      l.timer.async_wait([pool, &io, &l, link, gen](const std::error_code& ec) {
        if (ec || gen != l.generation) return;
        connect(pool, io, link);
      });
    }
  }
  for (std::size_t link : actions.write) kick_write(pool, io, link);
  sink.flush();
  if (io.dispatcher.busy()) ensure_tick(pool, io);
}

template <class Event>
void handle(const std::shared_ptr<Pool>& pool, Io& io, Event&& event) {
  Actions actions;
  CompletionSink sink;
  event(actions, sink);
  apply(pool, io, actions, sink);
}

void failed(const std::shared_ptr<Pool>& pool, Io& io, std::size_t link, Errc code,
            const std::string& reason) {
  handle(pool, io, [&](Actions& a, CompletionSink& s) {
    io.dispatcher.on_failure(link, code, reason, s, a);
  });
}

void kick_write(const std::shared_ptr<Pool>& pool, Io& io, std::size_t link) {
  Io::Link& l = *io.links[link];
  if (!l.transport || l.connecting) return;
  const std::string* out = io.dispatcher.connection(link).begin_write();
  if (out == nullptr) return;
  const std::uint64_t gen = l.generation;
  std::shared_ptr<Transport> t = l.transport;
  t->write(
      asio::buffer(*out), [pool, &io, &l, link, gen, t](const std::error_code& ec, std::size_t) {
        if (gen != l.generation) return;
        if (ec) {
          io.dispatcher.connection(link).on_written();
          failed(pool, io, link, Errc::connection, "write failed: " + describe(ec));
          return;
        }
        handle(pool, io, [&](Actions& a, CompletionSink&) { io.dispatcher.on_written(link, a); });
      });
}

void start_read(const std::shared_ptr<Pool>& pool, Io& io, std::size_t link) {
  Io::Link& l = *io.links[link];
  const std::uint64_t gen = l.generation;
  std::span<char> room = io.dispatcher.connection(link).read_buffer(16 << 10);
  std::shared_ptr<Transport> t = l.transport;
  t->read_some(asio::buffer(room.data(), room.size()),
               [pool, &io, &l, link, gen, t](const std::error_code& ec, std::size_t n) {
                 if (gen != l.generation) return;
                 if (ec) {
                   failed(pool, io, link, Errc::connection,
                          ec == asio::error::eof ? "the server closed the connection"
                                                 : "read failed: " + describe(ec));
                   return;
                 }
                 handle(pool, io, [&](Actions& a, CompletionSink& s) {
                   io.dispatcher.on_read(link, n, Clock::now(), pool->options().timeout_on_silence,
                                         s, a);
                 });
                 if (gen == l.generation) start_read(pool, io, link);
               });
}

void connected(const std::shared_ptr<Pool>& pool, Io& io, std::size_t link) {
  Io::Link& l = *io.links[link];
  l.connecting = false;
  l.timer.cancel();
  handle(pool, io, [&](Actions& a, CompletionSink&) {
    io.dispatcher.on_transport_up(link, Clock::now(), a);
  });
  start_read(pool, io, link);
  ensure_tick(pool, io);
}

void connect(const std::shared_ptr<Pool>& pool, Io& io, std::size_t link) {
  if (io.dispatcher.closed()) return;
  Io::Link& l = *io.links[link];
  const std::uint64_t gen = ++l.generation;
  l.connecting = true;
  const PoolOptions& options = pool->options();
  l.timer.expires_after(options.connect_timeout);
  l.timer.async_wait([pool, &io, &l, link, gen](const std::error_code& ec) {
    if (ec || gen != l.generation || !l.connecting) return;
    failed(pool, io, link, Errc::timeout, "connect timed out");
  });

  const Endpoint& ep = options.endpoint;
  if (!ep.unix_path.empty()) {
    auto socket = std::make_shared<asio::local::stream_protocol::socket>(io.io);
    socket->async_connect(
        asio::local::stream_protocol::endpoint(ep.unix_path),
        [pool, &io, &l, link, gen, socket](const std::error_code& ec) {
          if (gen != l.generation) return;
          if (ec) {
            failed(pool, io, link, Errc::connection, "connect failed: " + describe(ec));
            return;
          }
          l.transport = std::make_shared<PlainTransport<asio::local::stream_protocol::socket>>(
              std::move(*socket));
          connected(pool, io, link);
        });
    return;
  }
  io.resolver.async_resolve(
      ep.host, std::to_string(ep.port),
      [pool, &io, &l, link, gen](const std::error_code& ec,
                                 asio::ip::tcp::resolver::results_type results) {
        if (gen != l.generation) return;
        if (ec) {
          failed(pool, io, link, Errc::connection, "cannot resolve host: " + describe(ec));
          return;
        }
        if (io.tls) {
          auto* stream = new asio::ssl::stream<asio::ip::tcp::socket>(io.io, *io.tls);
          auto transport = std::make_shared<TlsTransport>(stream);  // owns the stream
          l.transport = transport;
          const std::string& host = pool->options().endpoint.host;
          SSL_set_tlsext_host_name(stream->native_handle(), host.c_str());
          stream->set_verify_callback(asio::ssl::host_name_verification(host));
          asio::async_connect(
              stream->lowest_layer(), results,
              [pool, &io, &l, link, gen, stream, transport](const std::error_code& ec2,
                                                            const auto&) {
                if (gen != l.generation) return;
                if (ec2) {
                  failed(pool, io, link, Errc::connection, "connect failed: " + describe(ec2));
                  return;
                }
                stream->lowest_layer().set_option(asio::ip::tcp::no_delay(true));
                stream->async_handshake(
                    asio::ssl::stream_base::client,
                    [pool, &io, &l, link, gen, transport](const std::error_code& ec3) {
                      if (gen != l.generation) return;
                      if (ec3) {
                        failed(pool, io, link, Errc::connection,
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
            [pool, &io, &l, link, gen, socket](const std::error_code& ec2, const auto&) {
              if (gen != l.generation) return;
              if (ec2) {
                failed(pool, io, link, Errc::connection, "connect failed: " + describe(ec2));
                return;
              }
              socket->set_option(asio::ip::tcp::no_delay(true));
              l.transport =
                  std::make_shared<PlainTransport<asio::ip::tcp::socket>>(std::move(*socket));
              connected(pool, io, link);
            });
      });
}

void ensure_tick(const std::shared_ptr<Pool>& pool, Io& io) {
  if (io.ticking || io.dispatcher.closed()) return;
  io.ticking = true;
  auto period = pool->options().timeout / 10;
  period = std::clamp(period, std::chrono::milliseconds(5), std::chrono::milliseconds(100));
  io.tick.expires_after(period);
  io.tick.async_wait([pool, &io](const std::error_code& ec) {
    io.ticking = false;
    if (ec) return;
    handle(pool, io,
           [&](Actions& a, CompletionSink& s) { io.dispatcher.on_tick(Clock::now(), s, a); });
    if (io.dispatcher.busy()) ensure_tick(pool, io);
  });
}

}  // namespace

Pool::Pool(PoolOptions options) : options_(std::move(options)) {}

Pool::~Pool() = default;

std::shared_ptr<Pool> Pool::create(PoolOptions options) {
  if (options.size == 0) options.size = 1;
  std::shared_ptr<Pool> pool(new Pool(std::move(options)));
  detail::Engine& engine = detail::Engine::instance();
  DispatcherOptions dispatch;
  dispatch.links = pool->options_.size;
  dispatch.timeout = pool->options_.timeout;
  dispatch.make_protocol = pool->options_.make_protocol;
  dispatch.name = pool->options_.name;
  pool->io_ = std::make_unique<Io>(*pool, engine.context(), std::move(dispatch));
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
  asio::post(engine.context(), [pool] {
    handle(pool, *pool->io_, [&](Actions& a, CompletionSink&) { pool->io_->dispatcher.start(a); });
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
    handle(self, io, [&](Actions& a, CompletionSink& s) {
      io.dispatcher.submit(io.batch_bytes, io.batch_requests, s, a);
    });
  });
}

void Pool::flush_deferred() {
  bool wake = false;
  {
    std::lock_guard lock(submit_mutex_);
    deferred_ = false;
    // A drain posted since (for another thread's request) may already have taken them.
    wake = !scheduled_ && !submit_requests_.empty();
    scheduled_ = scheduled_ || wake;
  }
  if (wake) schedule_drain();
}

void SubmitBatch::flush() {
  std::vector<std::shared_ptr<Pool>> pools;
  pools.swap(pools_);
  for (const auto& pool : pools) pool->flush_deferred();
}

void Pool::reject_closed(const std::shared_ptr<CompletionQueue>& queue, void* token) {
  Result result;
  result.set_error(Errc::closed, options_.name + ": the client is closed");
  deliver(Target{queue, token}, std::move(result));
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
    io.tick.cancel();
    handle(self, io, [&](Actions& a, CompletionSink& s) {
      io.dispatcher.close(s, a);
      io.dispatcher.submit(io.batch_bytes, io.batch_requests, s, a);  // refused: closed
    });
  });
}

PoolStats Pool::stats() const {
  PoolStats s;
  const Dispatcher::Stats& d = io_->dispatcher.stats();
  s.requests = d.requests.load();
  s.errors = d.errors.load();
  s.timeouts = d.timeouts.load();
  s.connects = d.connects.load();
  s.connected = d.connected.load();
  return s;
}

}  // namespace cachette::net
