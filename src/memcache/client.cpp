#include "cachette/memcache/client.hpp"

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <utility>

#include <asio/steady_timer.hpp>

#include "cachette/memcache/keys.hpp"
#include "cachette/memcache/ring.hpp"
#include "cachette/net/detail/engine.hpp"

namespace cachette::memcache {

using net::Result;
using Kind = net::Result::Kind;

struct Client::Shared {
  struct Server {
    std::shared_ptr<const ServerContext> context;
    std::shared_ptr<net::Pool> pool;
    net::PoolOptions dump_options;  // make_protocol is filled per dump
  };

  std::shared_ptr<net::HitCounters> counters = std::make_shared<net::HitCounters>();
  // Servers are added to the ring in `servers` order and never removed, so indices agree.
  std::vector<Server> servers;
  HashRing ring;
  std::string name;
  std::chrono::milliseconds timeout{0};
  std::atomic<bool> closed{false};
  std::mutex dumps_mutex;
  std::vector<std::weak_ptr<net::Pool>> dumps;  // dump connections that may still be open

  Server& route(std::string_view key) noexcept { return servers[ring.locate(key)]; }
};

namespace {

using Shared = Client::Shared;

std::string describe(const net::Endpoint& e) {
  if (!e.unix_path.empty()) return "memcached unix:" + e.unix_path;
  const bool v6 = e.host.find(':') != std::string::npos;
  return "memcached " + (v6 ? "[" + e.host + "]" : e.host) + ":" + std::to_string(e.port);
}

// One mapping buffer per thread: keys are mapped on the submitting thread, before submit.
MappedKey& mapped(std::string_view key) {
  thread_local MappedKey k;
  k.assign(key);
  return k;
}

std::uint32_t ttl_seconds(std::int64_t ttl_ms) {
  if (ttl_ms <= 0) return 0;
  const std::int64_t seconds = (ttl_ms + 999) / 1000;
  if (seconds > static_cast<std::int64_t>(kMaxRelativeTtl)) {
    throw Error(Errc::invalid_argument, "memcached TTLs are limited to 30 days (2592000 seconds)");
  }
  return static_cast<std::uint32_t>(seconds);
}

void must_encode(bool encoded) {
  // Mapped keys are always valid tokens; a failure here is a bug in the mapping.
  if (!encoded) throw Error(Errc::invalid_argument, "the key could not be encoded for memcached");
}

void encode_set(std::string& out, std::string_view key, std::string_view value, std::uint32_t ttl,
                bool add) {
  const MappedKey& k = mapped(key);
  SetRequest r;
  r.key = k.wire();
  r.value = value;
  r.ttl = ttl;
  r.add = add;
  must_encode(memcache::encode_set(out, r));
}

Result integer(std::int64_t n) {
  Result r;
  r.kind = Kind::integer;
  r.integer = n;
  return r;
}

void sum(std::size_t, Result&& part, Result& total) {
  total.integer += part.integer;
}

// Ends an operation object: frees it, then hands its result on (the target may be another
// operation that finishes in turn).
template <class Op>
void finish(Op* op, net::Target target, Result&& result) {
  delete op;
  net::deliver(target, std::move(result));
}

// Turns a step's successful Result into the operation's (flush: flush_all's ok -> the count).
class Then final : public net::Continuation {
 public:
  Then(net::Target target, std::function<void(Result&)> map)
      : target_(std::move(target)), map_(std::move(map)) {}
  void resume(Result&& result) override {
    if (result.kind != Kind::error) map_(result);
    finish(this, std::move(target_), std::move(result));
  }

 private:
  net::Target target_;
  std::function<void(Result&)> map_;
};

// One key dump on a connection of its own (memcached gives the connection to its crawler),
// retried while the crawler is busy for at most ten timeouts; `next` receives the dump.
class Dump final : public net::Continuation {
 public:
  using Next = std::function<void(Result&& dump, net::Target target)>;

  Dump(std::shared_ptr<Shared> shared, std::size_t server, std::string prefix, bool count_only,
       net::Target target, Next next)
      : shared_(std::move(shared)),
        server_(server),
        prefix_(std::move(prefix)),
        count_only_(count_only),
        target_(std::move(target)),
        next_(std::move(next)),
        give_up_(net::Clock::now() + 10 * shared_->timeout) {}

  void start() {
    if (shared_->closed.load(std::memory_order_acquire)) {
      Result closed;
      closed.set_error(Errc::closed, name() + ": the client is closed");
      return finish(this, std::move(target_), std::move(closed));
    }
    const Shared::Server& s = shared_->servers[server_];
    net::PoolOptions options = s.dump_options;
    auto job = std::make_shared<DumpJob>(prefix_, count_only_);
    options.make_protocol = [context = s.context, job] {
      return std::make_unique<DumpProtocol>(context, job);
    };
    pool_ = net::Pool::create(std::move(options));
    {
      std::lock_guard lock(shared_->dumps_mutex);
      std::erase_if(shared_->dumps, [](const std::weak_ptr<net::Pool>& p) { return p.expired(); });
      shared_->dumps.push_back(pool_);
    }
    pool_->submit(op_dump, 1, this,
                  [](std::string& out) { encode_metadump(out, MetadumpScope::hash); });
  }

  void resume(Result&& result) override {
    pool_->close();
    pool_.reset();
    if (result.kind == Kind::error) return finish(this, std::move(target_), std::move(result));
    if (result.kind != Kind::nil) {
      Next next = std::move(next_);
      net::Target target = std::move(target_);
      delete this;
      return next(std::move(result), std::move(target));
    }
    // nil: the crawler is busy (another dump, or the server's own crawl).
    if (net::Clock::now() + delay_ > give_up_) {
      Result busy;
      busy.set_error(Errc::timeout, "the LRU crawler of " + name() + " stayed busy; retry later");
      return finish(this, std::move(target_), std::move(busy));
    }
    if (!timer_)
      timer_ = std::make_unique<asio::steady_timer>(net::detail::Engine::instance().context());
    timer_->expires_after(delay_);
    delay_ = std::min(delay_ * 2, std::chrono::milliseconds(200));
    timer_->async_wait([this](const std::error_code&) { start(); });
  }

 private:
  const std::string& name() const { return shared_->servers[server_].context->name; }

  std::shared_ptr<Shared> shared_;
  std::size_t server_;
  std::string prefix_;
  bool count_only_;
  net::Target target_;
  Next next_;
  net::Clock::time_point give_up_;
  std::chrono::milliseconds delay_{5};
  std::shared_ptr<net::Pool> pool_;
  std::unique_ptr<asio::steady_timer> timer_;
};

// The second half of a namespace clear on one server: the dumped keys, deleted in pipelined
// chunks (all chunks go out at once; each is one request with its own deadline).
void delete_dumped(const std::shared_ptr<Shared>& shared, std::size_t server, Result&& dump,
                   net::Target target) {
  std::vector<std::string> keys = std::move(dump.items);
  if (keys.empty()) return net::deliver(target, integer(0));
  const std::size_t chunks = (keys.size() + kDeleteChunk - 1) / kDeleteChunk;
  auto* join = new net::Join(std::move(target), chunks, integer(0), sum);
  net::Pool& pool = *shared->servers[server].pool;
  for (std::size_t c = 0; c < chunks; ++c) {
    const std::size_t begin = c * kDeleteChunk;
    const std::size_t end = std::min(keys.size(), begin + kDeleteChunk);
    pool.submit(op_delete, static_cast<std::uint16_t>(end - begin), join->part(c),
                [&](std::string& out) {
                  MappedKey k;
                  for (std::size_t i = begin; i < end; ++i) {
                    k.assign_stored(keys[i]);
                    DeleteRequest r;
                    r.key = k.wire();
                    must_encode(encode_delete(out, r));
                  }
                });
  }
}

// del_if_equal's second step: delete only while the CAS read with the value still holds.
class CasDelete final : public net::Continuation {
 public:
  CasDelete(std::shared_ptr<net::Pool> pool, std::string key, std::string expected,
            net::Target target)
      : pool_(std::move(pool)),
        key_(std::move(key)),
        expected_(std::move(expected)),
        target_(std::move(target)) {}

  void resume(Result&& result) override {
    if (result.kind == Kind::error) return finish(this, std::move(target_), std::move(result));
    if (result.kind != Kind::value || result.value != expected_) {
      return finish(this, std::move(target_), integer(0));
    }
    const auto cas = static_cast<std::uint64_t>(result.integer);
    std::shared_ptr<net::Pool> pool = std::move(pool_);
    std::string key = std::move(key_);
    net::Target target = std::move(target_);
    delete this;
    const MappedKey& k = mapped(key);
    auto encode = [&](std::string& out) {
      DeleteRequest r;
      r.key = k.wire();
      r.compare_cas = cas;
      must_encode(encode_delete(out, r));
    };
    if (target.queue) {
      pool->submit(op_delete_cas, 1, target.queue, target.token, encode);
    } else {
      pool->submit(op_delete_cas, 1, static_cast<net::Continuation*>(target.token), encode);
    }
  }

 private:
  std::shared_ptr<net::Pool> pool_;
  std::string key_;
  std::string expected_;
  net::Target target_;
};

// Positions of a bulk request's keys, grouped by server and cut into chunks that fit one
// request (replies are counted in 16 bits): parts[i] lists indices into the caller's keys.
std::vector<std::pair<std::size_t, std::vector<std::size_t>>> group(
    const Shared& shared, std::size_t count,
    const std::function<std::string_view(std::size_t)>& key) {
  constexpr std::size_t kMaxPart = 65535;
  std::vector<std::vector<std::size_t>> by_server(shared.servers.size());
  for (std::size_t i = 0; i < count; ++i) by_server[shared.ring.locate(key(i))].push_back(i);
  std::vector<std::pair<std::size_t, std::vector<std::size_t>>> parts;
  for (std::size_t s = 0; s < by_server.size(); ++s) {
    const std::vector<std::size_t>& all = by_server[s];
    for (std::size_t begin = 0; begin < all.size(); begin += kMaxPart) {
      const std::size_t end = std::min(all.size(), begin + kMaxPart);
      parts.emplace_back(s,
                         std::vector<std::size_t>(all.begin() + static_cast<std::ptrdiff_t>(begin),
                                                  all.begin() + static_cast<std::ptrdiff_t>(end)));
    }
  }
  return parts;
}

// Submits each part to its server, to the caller's queue when there is only one part.
template <class Encode>
void submit_parts(Shared& shared, std::uint16_t op,
                  const std::vector<std::pair<std::size_t, std::vector<std::size_t>>>& parts,
                  net::Join* join, const net::Client::Queue& queue, void* token, Encode&& encode) {
  for (std::size_t p = 0; p < parts.size(); ++p) {
    // Named references rather than a structured binding: clang 14 cannot capture bindings.
    const std::size_t server = parts[p].first;
    const std::vector<std::size_t>& indices = parts[p].second;
    auto write = [&](std::string& out) {
      for (std::size_t i : indices) encode(out, i);
    };
    const auto replies = static_cast<std::uint16_t>(indices.size());
    if (join == nullptr) {
      shared.servers[server].pool->submit(op, replies, queue, token, write);
    } else {
      shared.servers[server].pool->submit(op, replies, join->part(p), write);
    }
  }
}

}  // namespace

Client::Client(ClientOptions options) : shared_(std::make_shared<Shared>()) {
  if (options.servers.empty()) throw Error(Errc::invalid_argument, "memcached needs a server");
  Shared& sh = *shared_;
  sh.timeout = options.timeout;
  sh.servers.reserve(options.servers.size());
  for (ServerOptions& s : options.servers) {
    auto context = std::make_shared<ServerContext>();
    context->name = describe(s.endpoint);
    context->credentials = std::move(s.credentials);
    context->max_value = options.max_value;
    if (!sh.ring.add(context->name, s.weight)) {
      throw Error(Errc::invalid_argument, context->name + " is listed twice");
    }
    sh.name += (sh.name.empty() ? "" : ", ") + context->name;
    net::PoolOptions pool;
    pool.endpoint = std::move(s.endpoint);
    pool.timeout = options.timeout;
    pool.connect_timeout = options.connect_timeout;
    pool.size = options.pool_size;
    pool.name = context->name;
    net::PoolOptions dump = pool;
    dump.size = 1;
    dump.timeout_on_silence = true;
    pool.make_protocol = [context, counters = sh.counters] {
      return std::make_unique<MetaProtocol>(context, counters);
    };
    Shared::Server server{context, nullptr, std::move(dump)};
    server.pool = net::Pool::create(std::move(pool));
    sh.servers.push_back(std::move(server));
  }
}

Client::~Client() {
  close();
}

const std::string& Client::name() const {
  return shared_->name;
}

std::size_t Client::server_count() const noexcept {
  return shared_->servers.size();
}

std::size_t Client::server_of(std::string_view key) const noexcept {
  return shared_->ring.locate(key);
}

void Client::get(std::string_view key, const Queue& queue, void* token) {
  const MappedKey& k = mapped(key);
  shared_->route(key).pool->submit(op_get, 1, queue, token, [&](std::string& out) {
    GetRequest r;
    r.key = k.wire();
    must_encode(encode_get(out, r));
  });
}

void Client::get_with_ttl(std::string_view key, const Queue& queue, void* token) {
  const MappedKey& k = mapped(key);
  shared_->route(key).pool->submit(op_get_ttl, 1, queue, token, [&](std::string& out) {
    GetRequest r;
    r.key = k.wire();
    r.ttl = true;
    must_encode(encode_get(out, r));
  });
}

void Client::set(std::string_view key, std::string_view value, std::int64_t ttl_ms,
                 const Queue& queue, void* token) {
  const std::uint32_t ttl = ttl_seconds(ttl_ms);
  shared_->route(key).pool->submit(
      op_set, 1, queue, token, [&](std::string& out) { encode_set(out, key, value, ttl, false); });
}

void Client::add(std::string_view key, std::string_view value, std::int64_t ttl_ms,
                 const Queue& queue, void* token) {
  const std::uint32_t ttl = ttl_seconds(ttl_ms);
  shared_->route(key).pool->submit(
      op_add, 1, queue, token, [&](std::string& out) { encode_set(out, key, value, ttl, true); });
}

void Client::del(std::string_view key, const Queue& queue, void* token) {
  const MappedKey& k = mapped(key);
  shared_->route(key).pool->submit(op_delete, 1, queue, token, [&](std::string& out) {
    DeleteRequest r;
    r.key = k.wire();
    must_encode(encode_delete(out, r));
  });
}

void Client::del_if_equal(std::string_view key, std::string_view value, const Queue& queue,
                          void* token) {
  std::shared_ptr<net::Pool> pool = shared_->route(key).pool;
  const MappedKey& k = mapped(key);
  auto* op = new CasDelete(pool, std::string(key), std::string(value), {queue, token});
  pool->submit(op_get_cas, 1, op, [&](std::string& out) {
    GetRequest r;
    r.key = k.wire();
    r.cas = true;
    must_encode(encode_get(out, r));
  });
}

void Client::get_many(std::span<const std::string_view> keys, const Queue& queue, void* token) {
  Result initial;
  initial.kind = Kind::values;
  if (keys.empty()) return net::complete_now(queue, token, std::move(initial));
  auto parts = group(*shared_, keys.size(), [&](std::size_t i) { return keys[i]; });
  auto encode = [&](std::string& out, std::size_t i) {
    const MappedKey& k = mapped(keys[i]);
    GetRequest r;
    r.key = k.wire();
    must_encode(encode_get(out, r));
  };
  if (parts.size() == 1) {
    return submit_parts(*shared_, op_get_many, parts, nullptr, queue, token, encode);
  }
  initial.items.resize(keys.size());
  initial.present.resize(keys.size());
  std::vector<std::vector<std::size_t>> positions;
  positions.reserve(parts.size());
  for (const auto& part : parts) positions.push_back(part.second);
  auto* join = new net::Join(
      {queue, token}, parts.size(), std::move(initial),
      [positions = std::move(positions)](std::size_t p, Result&& part, Result& total) {
        const std::vector<std::size_t>& at = positions[p];
        for (std::size_t i = 0; i < at.size() && i < part.items.size(); ++i) {
          total.items[at[i]] = std::move(part.items[i]);
          total.present[at[i]] = part.present[i];
        }
      });
  submit_parts(*shared_, op_get_many, parts, join, queue, token, encode);
}

void Client::set_many(std::span<const KeyValue> items, std::int64_t ttl_ms, const Queue& queue,
                      void* token) {
  const std::uint32_t ttl = ttl_seconds(ttl_ms);
  Result ok;
  ok.kind = Kind::ok;
  if (items.empty()) return net::complete_now(queue, token, std::move(ok));
  auto parts = group(*shared_, items.size(), [&](std::size_t i) { return items[i].first; });
  auto encode = [&](std::string& out, std::size_t i) {
    encode_set(out, items[i].first, items[i].second, ttl, false);
  };
  net::Join* join = nullptr;
  if (parts.size() > 1) {
    join = new net::Join({queue, token}, parts.size(), std::move(ok),
                         [](std::size_t, Result&&, Result&) {});
  }
  submit_parts(*shared_, op_set_many, parts, join, queue, token, encode);
}

void Client::clear_prefix(std::string_view prefix, const Queue& queue, void* token) {
  const std::size_t n = shared_->servers.size();
  auto* join = new net::Join({queue, token}, n, integer(0), sum);
  std::vector<Dump*> dumps;
  dumps.reserve(n);
  for (std::size_t s = 0; s < n; ++s) {
    dumps.push_back(new Dump(shared_, s, std::string(prefix), false, {nullptr, join->part(s)},
                             [shared = shared_, s](Result&& dump, net::Target target) {
                               delete_dumped(shared, s, std::move(dump), std::move(target));
                             }));
  }
  for (Dump* d : dumps) d->start();
}

void Client::flush(const Queue& queue, void* token) {
  const std::size_t n = shared_->servers.size();
  auto* join = new net::Join({queue, token}, n, integer(0), sum);
  std::vector<Dump*> dumps;
  dumps.reserve(n);
  for (std::size_t s = 0; s < n; ++s) {
    dumps.push_back(new Dump(
        shared_, s, std::string(), true, {nullptr, join->part(s)},
        [shared = shared_, s](Result&& dump, net::Target target) {
          const std::int64_t count = dump.integer;
          auto* then = new Then(std::move(target), [count](Result& r) { r = integer(count); });
          shared->servers[s].pool->submit(op_flush_all, 1, then,
                                          [](std::string& out) { encode_flush_all(out); });
        }));
  }
  for (Dump* d : dumps) d->start();
}

void Client::flush_expired(const Queue& queue, void* token) {
  net::complete_now(queue, token, integer(0));
}

void Client::close() {
  shared_->closed.store(true, std::memory_order_release);
  for (Shared::Server& s : shared_->servers) s.pool->close();
  std::lock_guard lock(shared_->dumps_mutex);
  for (std::weak_ptr<net::Pool>& d : shared_->dumps) {
    if (std::shared_ptr<net::Pool> pool = d.lock()) pool->close();
  }
  shared_->dumps.clear();
}

net::ClientStats Client::stats() const {
  net::ClientStats out;
  out.hits = shared_->counters->hits.load(std::memory_order_relaxed);
  out.misses = shared_->counters->misses.load(std::memory_order_relaxed);
  for (const Shared::Server& s : shared_->servers) {
    const net::PoolStats p = s.pool->stats();
    out.requests += p.requests;
    out.errors += p.errors;
    out.timeouts += p.timeouts;
    out.connected += p.connected;
  }
  return out;
}

}  // namespace cachette::memcache
