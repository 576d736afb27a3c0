// The cluster client's shared state: pools per node, the relay the I/O thread drains, and the
// discovery of the slot map (CLUSTER SHARDS / CLUSTER SLOTS) or of Sentinel's current primary.

#include <unistd.h>

#include <algorithm>
#include <asio/post.hpp>

#include "cachette/redis/detail/cluster_state.hpp"
#include "cachette/resp/encoder.hpp"

namespace cachette::redis {

namespace {

std::string pool_key(const NodeAddress& a, PoolRole role) {
  const char* prefix = role == PoolRole::primary ? "p " : role == PoolRole::replica ? "r " : "s ";
  return prefix + a.text();
}

// Completions for callers are grouped per queue while the I/O thread drains the relay.
thread_local net::CompletionSink* t_sink = nullptr;

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

}  // namespace

ClusterClient::State::State(ClusterOptions o, asio::io_context& context)
    : options(std::move(o)),
      io(context),
      credentials(std::make_shared<const Credentials>(options.credentials)),
      no_credentials(std::make_shared<const Credentials>()),
      counters(std::make_shared<net::HitCounters>()),
      sentinel_counters(std::make_shared<net::HitCounters>()),
      inbox(std::make_shared<TopologyInbox>()),
      relay(std::make_shared<net::CompletionQueue>()),
      watcher(context, ::dup(relay->fd())),
      refresh_timer(context) {
  refresh_step.state = this;
  std::string seeds;
  for (const NodeAddress& a : options.seeds) seeds += (seeds.empty() ? "" : ",") + a.text();
  name = options.discovery == ClusterOptions::Discovery::sentinel
             ? options.kind + " sentinel " + options.service_name + "@" + seeds
             : options.kind + " cluster " + seeds;
}

std::shared_ptr<net::Pool> ClusterClient::State::pool_for(const NodeAddress& address,
                                                          PoolRole role) {
  const std::string key = pool_key(address, role);
  std::lock_guard lock(mutex);
  if (closed()) return nullptr;
  auto it = pools.find(key);
  if (it != pools.end()) return it->second;
  net::PoolOptions p;
  p.endpoint.host = address.host;
  p.endpoint.port = address.port;
  p.endpoint.tls = options.tls;
  p.endpoint.tls_ca_file = options.tls_ca_file;
  p.endpoint.tls_cert_file = options.tls_cert_file;
  p.endpoint.tls_key_file = options.tls_key_file;
  p.timeout = options.timeout;
  p.connect_timeout = options.connect_timeout;
  p.size = role == PoolRole::sentinel ? 1 : options.pool_size;
  p.name = (role == PoolRole::sentinel ? "sentinel " : options.kind + " ") + address.text();
  auto creds = role == PoolRole::sentinel ? no_credentials : credentials;
  auto count = role == PoolRole::sentinel ? sentinel_counters : counters;
  p.make_protocol = [creds, count, box = inbox, readonly = role == PoolRole::replica] {
    return std::make_unique<ClusterProtocol>(creds, count, box, readonly);
  };
  auto pool = net::Pool::create(std::move(p));
  pools.emplace(key, pool);
  return pool;
}

std::shared_ptr<const Topology> ClusterClient::State::snapshot() const {
  std::lock_guard lock(mutex);
  return topology;
}

void ClusterClient::State::request_refresh() {
  if (refresh_requested.exchange(true, std::memory_order_acq_rel)) return;
  asio::post(io, [self = shared_from_this()] { self->refresh_soon(false); });
}

void ClusterClient::State::complete(const Queue& queue, void* token, Result&& result) {
  if (result.kind == Result::Kind::error) {
    errors.fetch_add(1, std::memory_order_relaxed);
    if (result.error_code == Errc::timeout) timeouts.fetch_add(1, std::memory_order_relaxed);
  }
  if (t_sink != nullptr) {
    net::Request r;
    r.token = token;
    r.queue = queue;
    t_sink->add(r, std::move(result));
    return;
  }
  queue->push(net::Completion{token, std::move(result)});
}

void ClusterClient::State::watch_relay() {
  watcher.async_wait(asio::posix::descriptor_base::wait_read,
                     [self = shared_from_this()](const std::error_code& ec) {
                       if (ec) return;
                       self->drain_relay();
                       // Once closed and every step has reported, nothing can arrive any more.
                       if (self->closed() && self->live.load() == 0) {
                         std::error_code ignored;
                         self->watcher.close(ignored);
                         self->refresh_timer.cancel();
                         return;
                       }
                       self->watch_relay();
                     });
}

void ClusterClient::State::drain_relay() {
  std::vector<net::Completion> batch;
  relay->drain(batch);
  net::CompletionSink out;
  t_sink = &out;
  for (net::Completion& c : batch) static_cast<Step*>(c.token)->on_result(std::move(c.result));
  t_sink = nullptr;
  out.flush();
}

void ClusterClient::State::refresh_soon(bool now) {
  if (closed()) return;
  if (refreshing) {
    refresh_again = true;
    return;
  }
  const auto wait = last_refresh + kRefreshInterval - Clock::now();
  if (!now && wait.count() > 0) {
    if (!timer_armed) {
      timer_armed = true;
      refresh_timer.expires_after(wait);
      refresh_timer.async_wait([self = shared_from_this()](const std::error_code& ec) {
        self->timer_armed = false;
        if (!ec) self->refresh_soon(true);
      });
    }
    return;
  }
  start_refresh();
}

void ClusterClient::State::start_refresh() {
  refreshing = true;
  refresh_requested.store(false, std::memory_order_release);
  // Known nodes first (a seed may be gone for good), then the seeds; rotated per attempt so a
  // dead node is not always asked first.
  candidates.clear();
  if (options.discovery == ClusterOptions::Discovery::cluster) {
    if (auto t = snapshot()) {
      for (const Shard& s : t->map.shards()) {
        candidates.push_back(s.primary);
        for (const NodeAddress& r : s.replicas) candidates.push_back(r);
      }
    }
  }
  for (const NodeAddress& seed : options.seeds) {
    if (std::find(candidates.begin(), candidates.end(), seed) == candidates.end()) {
      candidates.push_back(seed);
    }
  }
  if (!candidates.empty()) {
    std::rotate(
        candidates.begin(),
        candidates.begin() + static_cast<std::ptrdiff_t>(refreshes.load() % candidates.size()),
        candidates.end());
  }
  candidate = 0;
  use_cluster_slots = false;
  refresh_error = "no node answered";
  refresh_error_code = Errc::connection;
  try_candidate();
}

void ClusterClient::State::try_candidate() {
  if (candidate >= candidates.size()) {
    finish_refresh(false);
    return;
  }
  const NodeAddress& a = candidates[candidate];
  if (options.discovery == ClusterOptions::Discovery::sentinel) {
    auto pool = pool_for(a, PoolRole::sentinel);
    if (!pool) return finish_refresh(false);
    pool->submit(op_command, 1, relay, &refresh_step, [&](std::string& out) {
      resp::CommandWriter(out, 3)
          .arg("SENTINEL")
          .arg("GET-MASTER-ADDR-BY-NAME")
          .arg(options.service_name);
    });
    return;
  }
  auto pool = pool_for(a, PoolRole::primary);
  if (!pool) return finish_refresh(false);
  if (use_cluster_slots) {
    pool->submit(op_cluster_slots, 1, relay, &refresh_step, [](std::string& out) {
      resp::append_command(out, {"CLUSTER", "SLOTS"});
    });
  } else {
    pool->submit(op_cluster_shards, 1, relay, &refresh_step, [](std::string& out) {
      resp::append_command(out, {"CLUSTER", "SHARDS"});
    });
  }
}

void ClusterClient::State::on_refresh_result(Result&& r) {
  const NodeAddress answered = candidates[candidate];
  if (options.discovery == ClusterOptions::Discovery::sentinel) {
    if (r.kind == Result::Kind::list && r.items.size() == 2) {
      Shard shard;
      shard.ranges.emplace_back(0, kSlotCount - 1);
      shard.primary.host = r.items[0];
      int port = 0;
      try {
        port = std::stoi(r.items[1]);
      } catch (...) {
      }
      if (port > 0 && port < 65536) {
        shard.primary.port = static_cast<std::uint16_t>(port);
        std::vector<Shard> shards;
        shards.push_back(std::move(shard));
        install(std::move(shards), true, answered);
        return;
      }
    }
    refresh_error = r.kind == Result::Kind::error
                        ? r.value
                        : "the sentinels do not know the service \"" + options.service_name + "\"";
    ++candidate;
    try_candidate();
    return;
  }
  if (r.kind == Result::Kind::ok) {
    std::optional<std::vector<Shard>> shards;
    {
      std::lock_guard lock(inbox->mutex);
      shards.swap(inbox->shards);
    }
    if (shards && !shards->empty()) {
      install(std::move(*shards), false, answered);
      return;
    }
    refresh_error = "the cluster reported no slots";
  } else if (contains(r.value, "cluster support disabled")) {
    // A standalone server: one shard that serves every slot.
    Shard shard;
    shard.ranges.emplace_back(0, kSlotCount - 1);
    shard.primary = answered;
    std::vector<Shard> shards;
    shards.push_back(std::move(shard));
    install(std::move(shards), true, answered);
    return;
  } else if (r.error_code == Errc::protocol && !use_cluster_slots &&
             (contains(r.value, "unknown") || contains(r.value, "Unknown"))) {
    use_cluster_slots = true;  // a server older than CLUSTER SHARDS (Redis < 7)
    try_candidate();
    return;
  } else {
    refresh_error = r.value;
    // Refused credentials stay an auth error: the caller must not mistake them for an outage.
    refresh_error_code = r.error_code == Errc::auth ? Errc::auth : Errc::connection;
  }
  use_cluster_slots = false;
  ++candidate;
  try_candidate();
}

void ClusterClient::State::install(std::vector<Shard> shards, bool standalone,
                                   const NodeAddress& answered) {
  for (Shard& s : shards) {
    if (s.primary.host.empty()) s.primary.host = answered.host;
    for (NodeAddress& r : s.replicas) {
      if (r.host.empty()) r.host = answered.host;
    }
  }
  auto t = std::make_shared<Topology>();
  t->map = SlotMap(std::move(shards));
  t->standalone = standalone;
  for (const Shard& s : t->map.shards()) {
    t->primaries.push_back(pool_for(s.primary, PoolRole::primary));
    std::vector<std::shared_ptr<net::Pool>> replicas;
    if (options.read_from_replicas) {
      for (const NodeAddress& r : s.replicas) replicas.push_back(pool_for(r, PoolRole::replica));
    }
    t->replicas.push_back(std::move(replicas));
  }
  if (!t->map.shards().empty()) t->primary = t->map.shards().front().primary.text();
  for (const auto& p : t->primaries) {
    if (!p) return finish_refresh(false);  // closed meanwhile
  }
  std::vector<Step*> waiting;
  std::vector<std::shared_ptr<net::Pool>> retired;
  {
    std::lock_guard lock(mutex);
    topology = t;
    waiting.swap(parked);
    // Pools of nodes that left the map are closed; a request still on one comes back with
    // Errc::closed and is routed again. Seeds stay: they are where the next refresh starts.
    for (auto it = pools.begin(); it != pools.end();) {
      const net::Pool* pool = it->second.get();
      bool used = it->first.starts_with("s ");
      for (const auto& p : t->primaries) used = used || p.get() == pool;
      for (const auto& rs : t->replicas) {
        for (const auto& p : rs) used = used || p.get() == pool;
      }
      for (const NodeAddress& seed : options.seeds) {
        used = used || it->first == pool_key(seed, PoolRole::primary);
      }
      if (used) {
        ++it;
      } else {
        retired.push_back(it->second);
        it = pools.erase(it);
      }
    }
  }
  for (auto& pool : retired) pool->close();
  refreshes.fetch_add(1, std::memory_order_relaxed);
  finish_refresh(true);
  for (Step* step : waiting) step->route();
}

void ClusterClient::State::finish_refresh(bool ok) {
  refreshing = false;
  last_refresh = Clock::now();
  std::vector<std::pair<Queue, void*>> waiters;
  std::vector<Step*> stranded;
  {
    std::lock_guard lock(mutex);
    waiters.swap(refresh_waiters);
    if (!ok && !topology) stranded.swap(parked);
  }
  // A refresh that failed because close() shut its pools reports the close, not a lost map.
  const bool shut = closed();
  const Errc code = shut ? Errc::closed : refresh_error_code;
  const std::string message = shut ? name + ": the client is closed"
                                   : name + ": cannot read the cluster map: " + refresh_error;
  for (auto& [queue, token] : waiters) {
    Result r;
    if (ok) {
      r.kind = Result::Kind::ok;
    } else {
      r.set_error(code, message);
    }
    complete(queue, token, std::move(r));
  }
  for (Step* step : stranded) {
    Result r;
    r.set_error(code, message);
    step->on_result(std::move(r));
  }
  if (refresh_again && !closed()) {
    refresh_again = false;
    refresh_soon(false);
  }
}

void ClusterClient::State::close_on_io() {
  // Runs after the pools' own close handlers (posted first), whose failures are in the relay.
  drain_relay();
  std::vector<Step*> stranded;
  std::vector<std::pair<Queue, void*>> waiters;
  {
    std::lock_guard lock(mutex);
    stranded.swap(parked);
    waiters.swap(refresh_waiters);
  }
  for (Step* step : stranded) {
    Result r;
    r.set_error(Errc::closed, name + ": the client is closed");
    step->on_result(std::move(r));
  }
  for (auto& [queue, token] : waiters) {
    Result r;
    r.set_error(Errc::closed, name + ": the client is closed");
    complete(queue, token, std::move(r));
  }
  refresh_timer.cancel();
  if (live.load() == 0) {
    std::error_code ignored;
    watcher.cancel(ignored);
  }
}

}  // namespace cachette::redis
