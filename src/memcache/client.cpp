#include "cachette/memcache/client.hpp"

#include <algorithm>
#include <limits>
#include <utility>

#include "cachette/memcache/keys.hpp"

namespace cachette::memcache {

namespace {

std::string describe(const net::Endpoint& e) {
  if (!e.unix_path.empty()) return "memcached unix:" + e.unix_path;
  const bool v6 = e.host.find(':') != std::string::npos;
  return "memcached " + (v6 ? "[" + e.host + "]" : e.host) + ":" + std::to_string(e.port);
}

// One mapping buffer per thread: keys are mapped on the caller's thread, before submit.
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

}  // namespace

Client::Client(ClientOptions options) : counters_(std::make_shared<Counters>()) {
  if (options.servers.empty()) throw Error(Errc::invalid_argument, "memcached needs a server");
  servers_.reserve(options.servers.size());
  for (ServerOptions& s : options.servers) {
    auto context = std::make_shared<ServerContext>();
    context->name = describe(s.endpoint);
    context->credentials = std::move(s.credentials);
    context->max_value = options.max_value;
    if (!ring_.add(context->name, s.weight)) {
      throw Error(Errc::invalid_argument, context->name + " is listed twice");
    }
    net::PoolOptions pool;
    pool.endpoint = std::move(s.endpoint);
    pool.timeout = options.timeout;
    pool.connect_timeout = options.connect_timeout;
    pool.size = options.pool_size;
    pool.name = context->name;
    net::PoolOptions dump = pool;
    dump.size = 1;
    dump.timeout = std::max(options.dump_timeout, options.timeout);
    pool.make_protocol = [context, counters = counters_] {
      return std::make_unique<MetaProtocol>(context, counters);
    };
    Server server{context, nullptr, std::move(dump)};
    server.pool = net::Pool::create(std::move(pool));
    servers_.push_back(std::move(server));
  }
}

Client::~Client() {
  close();
}

const std::string& Client::server_name(std::size_t server) const {
  return servers_.at(server).context->name;
}

std::size_t Client::server_of(std::string_view key) const noexcept {
  return ring_.locate(key);
}

void Client::get(std::string_view key, const Queue& queue, void* token) {
  const MappedKey& k = mapped(key);
  route(key).pool->submit(op_get, 1, queue, token, [&](std::string& out) {
    GetRequest r;
    r.key = k.wire();
    must_encode(encode_get(out, r));
  });
}

void Client::get_with_ttl(std::string_view key, const Queue& queue, void* token) {
  const MappedKey& k = mapped(key);
  route(key).pool->submit(op_get_ttl, 1, queue, token, [&](std::string& out) {
    GetRequest r;
    r.key = k.wire();
    r.ttl = true;
    must_encode(encode_get(out, r));
  });
}

void Client::set(std::string_view key, std::string_view value, std::int64_t ttl_ms,
                 const Queue& queue, void* token) {
  const std::uint32_t ttl = ttl_seconds(ttl_ms);
  const MappedKey& k = mapped(key);
  route(key).pool->submit(op_set, 1, queue, token, [&](std::string& out) {
    SetRequest r;
    r.key = k.wire();
    r.value = value;
    r.ttl = ttl;
    must_encode(encode_set(out, r));
  });
}

void Client::del(std::string_view key, const Queue& queue, void* token) {
  const MappedKey& k = mapped(key);
  route(key).pool->submit(op_delete, 1, queue, token, [&](std::string& out) {
    DeleteRequest r;
    r.key = k.wire();
    must_encode(encode_delete(out, r));
  });
}

void Client::dump_prefix(std::size_t server, std::string_view prefix, const Queue& queue,
                         void* token) {
  start_dump(server, std::make_shared<DumpJob>(std::string(prefix), false), queue, token);
}

void Client::dump_count(std::size_t server, const Queue& queue, void* token) {
  start_dump(server, std::make_shared<DumpJob>(std::string(), true), queue, token);
}

void Client::start_dump(std::size_t server, std::shared_ptr<DumpJob> job, const Queue& queue,
                        void* token) {
  Server& s = servers_.at(server);
  net::PoolOptions options = s.dump_options;
  options.make_protocol = [context = s.context, job] {
    return std::make_unique<DumpProtocol>(context, job);
  };
  std::shared_ptr<net::Pool> pool = net::Pool::create(std::move(options));
  {
    std::lock_guard lock(dumps_mutex_);
    // A dump is over once its reply was read, or once its connection failed it.
    std::erase_if(dumps_, [](const Dump& d) {
      const bool over =
          d.job->finished.load(std::memory_order_acquire) || d.pool->stats().errors > 0;
      if (over) d.pool->close();
      return over;
    });
    dumps_.push_back({pool, job});
  }
  pool->submit(op_dump, 1, queue, token,
               [](std::string& out) { encode_metadump(out, MetadumpScope::hash); });
}

void Client::delete_stored(std::size_t server, std::span<const std::string> stored,
                           const Queue& queue, void* token) {
  if (stored.empty() || stored.size() > std::numeric_limits<std::uint16_t>::max()) {
    throw Error(Errc::invalid_argument, "delete_stored takes 1 to 65535 keys");
  }
  Server& s = servers_.at(server);
  s.pool->submit(op_delete, static_cast<std::uint16_t>(stored.size()), queue, token,
                 [&](std::string& out) {
                   MappedKey k;
                   for (const std::string& key : stored) {
                     k.assign_stored(key);
                     DeleteRequest r;
                     r.key = k.wire();
                     must_encode(encode_delete(out, r));
                   }
                 });
}

void Client::flush_all(std::size_t server, const Queue& queue, void* token) {
  servers_.at(server).pool->submit(op_flush_all, 1, queue, token,
                                   [](std::string& out) { encode_flush_all(out); });
}

void Client::close() {
  for (Server& s : servers_) s.pool->close();
  std::lock_guard lock(dumps_mutex_);
  for (Dump& d : dumps_) d.pool->close();
  dumps_.clear();
}

Client::Stats Client::stats() const {
  Stats out;
  out.hits = counters_->hits.load(std::memory_order_relaxed);
  out.misses = counters_->misses.load(std::memory_order_relaxed);
  for (const Server& s : servers_) {
    const net::PoolStats p = s.pool->stats();
    out.requests += p.requests;
    out.errors += p.errors;
    out.timeouts += p.timeouts;
    out.connected += p.connected;
  }
  return out;
}

}  // namespace cachette::memcache
