// The cluster client's requests: single-key steps with MOVED / ASK / retry handling, and the
// whole operations that fan out over primaries (get_many, set_many, clear_prefix, flush).

#include "cachette/redis/cluster.hpp"

#include <asio/post.hpp>

#include "cachette/net/detail/engine.hpp"
#include "cachette/redis/client.hpp"  // kMaxValueSize
#include "cachette/redis/detail/cluster_state.hpp"
#include "cachette/resp/encoder.hpp"

namespace cachette::redis {

namespace {

constexpr int kMaxRedirects = 16;
constexpr auto kRetryDelay = std::chrono::milliseconds(20);
constexpr std::size_t kBatchKeys = 512;  // keys per pipelined request of get_many / set_many
constexpr std::int64_t kScanCount = 1000;

constexpr std::string_view kDelIfEqualScript =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end "
    "return 0";

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Replies that mean "the cluster is moving; the same request will work shortly".
bool transient(std::string_view message) {
  return starts_with(message, "TRYAGAIN") || starts_with(message, "CLUSTERDOWN") ||
         starts_with(message, "LOADING") || starts_with(message, "READONLY") ||
         starts_with(message, "MASTERDOWN");
}

Result error_result(Errc code, std::string message) {
  Result r;
  r.set_error(code, std::move(message));
  return r;
}

using State = ClusterClient::State;

/// A step that counts itself live while it exists (see State::watch_relay).
struct Counted : Step {
  explicit Counted(std::shared_ptr<State> s) : state(std::move(s)) {
    state->live.fetch_add(1, std::memory_order_relaxed);
  }
  ~Counted() override { state->live.fetch_sub(1, std::memory_order_relaxed); }
  std::shared_ptr<State> state;
};

/// One single-key request, followed through redirections until it has an answer.
struct KeyOp final : Counted {
  enum class Kind : std::uint8_t { get, get_with_ttl, set, add, del, del_if_equal };

  KeyOp(std::shared_ptr<State> s, Kind k, std::string_view key_, std::string_view value_ = {},
        std::int64_t ttl = 0)
      : Counted(std::move(s)),
        kind(k),
        key(key_),
        value(value_),
        ttl_ms(ttl),
        deadline(Clock::now() + state->options.timeout) {}

  void route() override {
    if (state->closed())
      return finish(error_result(Errc::closed, state->name + ": the client is closed"));
    // Once parked, the I/O thread may route, finish and delete this op at any moment, so
    // after parking only this local copy of the state may be touched.
    const std::shared_ptr<State> s = state;
    std::shared_ptr<const Topology> t;
    {
      std::lock_guard lock(s->mutex);
      t = s->topology;
      if (!t) s->parked.push_back(this);
    }
    if (!t) {
      s->request_refresh();
      return;
    }
    const std::uint16_t slot = key_slot(key);
    const std::uint16_t shard = t->map.shard_of(slot);
    if (shard == SlotMap::kNoShard) {
      state->request_refresh();
      return finish(error_result(Errc::connection,
                                 state->name + ": no node serves slot " + std::to_string(slot)));
    }
    const auto& replicas = t->replicas[shard];
    if ((kind == Kind::get || kind == Kind::get_with_ttl) && !replicas.empty()) {
      const std::size_t turn = state->replica_turn.fetch_add(1, std::memory_order_relaxed);
      submit(*replicas[turn % replicas.size()], false);
      return;
    }
    submit(*t->primaries[shard], false);
  }

  void submit(net::Pool& pool, bool asking) {
    std::uint16_t op = op_get;
    std::uint16_t replies = 1;
    switch (kind) {
      case Kind::get: op = op_get; break;
      case Kind::get_with_ttl:
        op = scripted ? op_get_with_ttl_script : op_get_with_ttl;
        replies = scripted ? 1 : 4;
        break;
      case Kind::set: op = op_set; break;
      case Kind::add: op = op_add; break;
      case Kind::del:
      case Kind::del_if_equal: op = op_count; break;
    }
    if (asking) {
      op = static_cast<std::uint16_t>(op | kAsking);
      ++replies;
    }
    pool.submit(op, replies, state->relay, this, [&](std::string& out) {
      if (asking) out.append("*1\r\n$6\r\nASKING\r\n");
      encode(out);
    });
  }

  void encode(std::string& out) const {
    switch (kind) {
      case Kind::get: resp::CommandWriter(out, 2).arg("GET").arg(key); return;
      case Kind::get_with_ttl:
        if (scripted) {
          resp::CommandWriter(out, 4).arg("EVAL").arg(kReadWithTtlScript).arg("1").arg(key);
          return;
        }
        out.append("*1\r\n$5\r\nMULTI\r\n");
        resp::CommandWriter(out, 2).arg("PTTL").arg(key);
        resp::CommandWriter(out, 2).arg("GET").arg(key);
        out.append("*1\r\n$4\r\nEXEC\r\n");
        return;
      case Kind::set:
      case Kind::add: {
        const bool nx = kind == Kind::add;
        const std::size_t args = 3 + (nx ? 1 : 0) + (ttl_ms > 0 ? 2 : 0);
        resp::CommandWriter w(out, args);
        w.arg("SET").arg(key).arg(value);
        if (nx) w.arg("NX");
        if (ttl_ms > 0) w.arg("PX").arg(ttl_ms);
        return;
      }
      case Kind::del: resp::CommandWriter(out, 2).arg("DEL").arg(key); return;
      case Kind::del_if_equal:
        resp::CommandWriter(out, 5).arg("EVAL").arg(kDelIfEqualScript).arg("1").arg(key).arg(value);
        return;
    }
  }

  void on_result(Result&& r) override {
    if (r.kind == Result::Kind::error && !state->closed()) {
      if (r.error_code == Errc::protocol) {
        if (auto redirect = parse_redirect(r.value); redirect && ++redirects <= kMaxRedirects) {
          if (redirect->target.host.empty()) redirect->target.host = state->default_host();
          if (redirect->kind == Redirect::Kind::moved) state->request_refresh();
          if (auto pool = state->pool_for(redirect->target, PoolRole::primary)) {
            submit(*pool, redirect->kind == Redirect::Kind::ask);
            return;
          }
        } else if (transient(r.value) && Clock::now() + kRetryDelay < deadline) {
          if (!starts_with(r.value, "TRYAGAIN") && !starts_with(r.value, "LOADING")) {
            state->request_refresh();
          }
          retry_later();
          return;
        }
      } else if (r.error_code == Errc::store_full && kind == Kind::get_with_ttl && !scripted) {
        scripted = true;  // a node out of memory refuses MULTI: the script form reads anyway
        route();
        return;
      } else if (r.error_code == Errc::closed && ++redirects <= kMaxRedirects) {
        route();  // its pool was retired by a new map
        return;
      } else if (r.error_code == Errc::connection || r.error_code == Errc::timeout) {
        state->request_refresh();
      }
    }
    finish(std::move(r));
  }

  void retry_later() {
    auto timer = std::make_shared<asio::steady_timer>(state->io, kRetryDelay);
    timer->async_wait([this, timer](const std::error_code&) { route(); });
  }

  void finish(Result&& r) {
    if (parent != nullptr) {
      parent->child_done(index, std::move(r));
    } else {
      state->complete(queue, token, std::move(r));
    }
    delete this;
  }

  Kind kind;
  std::string key;
  std::string value;
  std::int64_t ttl_ms;
  Clock::time_point deadline;
  int redirects = 0;
  bool scripted = false;  // get_with_ttl as kReadWithTtlScript instead of MULTI/EXEC
  Queue queue;
  void* token = nullptr;
  Parent* parent = nullptr;  // set for a key of a whole operation
  std::size_t index = 0;
};

/// get_many / set_many: per-node pipelined batches; a key whose reply was an error (a
/// redirection during resharding) is finished alone as a KeyOp.
struct ManyOp final : Counted, Parent {
  ManyOp(std::shared_ptr<State> s, bool is_set, Queue q, void* t)
      : Counted(std::move(s)), set(is_set), queue(std::move(q)), token(t) {}

  struct Batch final : Counted {
    Batch(std::shared_ptr<State> s, ManyOp* o) : Counted(std::move(s)), owner(o) {}
    void on_result(Result&& r) override {
      for (std::size_t i = 0; i < indices.size(); ++i) {
        const std::size_t key = indices[i];
        if (r.kind == Result::Kind::error) {
          owner->key_done(key, error_result(r.error_code, r.value));
        } else if (i < r.present.size() && r.present[i] == 2) {
          owner->single(key);  // redirected or refused: follow it alone
        } else {
          Result one;
          if (i < r.present.size() && r.present[i] == 1) {
            one.kind = owner->set ? Result::Kind::ok : Result::Kind::value;
            one.value = std::move(r.items[i]);
          } else {
            one.kind = owner->set ? Result::Kind::ok : Result::Kind::nil;
          }
          owner->key_done(key, std::move(one));
        }
      }
      delete this;
    }
    ManyOp* owner;
    std::vector<std::size_t> indices;
  };

  void start() {  // on the I/O thread
    pending = keys.size();
    result.kind = set ? Result::Kind::ok : Result::Kind::values;
    if (!set) {
      result.items.resize(keys.size());
      result.present.assign(keys.size(), 0);
    }
    if (keys.empty()) return done();
    auto t = state->snapshot();
    if (!t || state->closed()) {
      for (std::size_t i = 0; i < keys.size(); ++i) single(i);
      return;
    }
    std::vector<std::vector<std::size_t>> by_shard(t->primaries.size());
    std::vector<std::size_t> unserved;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const std::uint16_t shard = t->map.shard_of(key_slot(keys[i]));
      (shard == SlotMap::kNoShard ? unserved : by_shard[shard]).push_back(i);
    }
    for (std::size_t shard = 0; shard < by_shard.size(); ++shard) {
      const auto& all = by_shard[shard];
      for (std::size_t from = 0; from < all.size(); from += kBatchKeys) {
        auto* batch = new Batch(state, this);
        batch->indices.assign(
            all.begin() + static_cast<std::ptrdiff_t>(from),
            all.begin() + static_cast<std::ptrdiff_t>(std::min(all.size(), from + kBatchKeys)));
        send(*t->primaries[shard], batch);
      }
    }
    for (std::size_t i : unserved) single(i);
  }

  void send(net::Pool& pool, Batch* batch) {
    const auto n = static_cast<std::uint16_t>(batch->indices.size());
    pool.submit(set ? op_set_each : op_get_each, n, state->relay, batch, [&](std::string& out) {
      for (std::size_t i : batch->indices) {
        if (!set) {
          resp::CommandWriter(out, 2).arg("GET").arg(keys[i]);
        } else if (ttl_ms > 0) {
          resp::CommandWriter(out, 5).arg("SET").arg(keys[i]).arg(values[i]).arg("PX").arg(ttl_ms);
        } else {
          resp::CommandWriter(out, 3).arg("SET").arg(keys[i]).arg(values[i]);
        }
      }
    });
  }

  void single(std::size_t i) {
    auto* op = set ? new KeyOp(state, KeyOp::Kind::set, keys[i], values[i], ttl_ms)
                   : new KeyOp(state, KeyOp::Kind::get, keys[i]);
    op->parent = this;
    op->index = i;
    op->route();
  }

  void child_done(std::size_t i, Result&& r) override { key_done(i, std::move(r)); }

  void key_done(std::size_t i, Result&& r) {
    if (r.kind == Result::Kind::error) {
      if (!failed) failed.emplace(std::move(r));
    } else if (!set && r.kind == Result::Kind::value) {
      result.items[i] = std::move(r.value);
      result.present[i] = 1;
    }
    if (--pending == 0) done();
  }

  void done() {
    state->complete(queue, token, failed ? std::move(*failed) : std::move(result));
    delete this;
  }

  void on_result(Result&&) override {}  // never a pool token itself

  bool set;
  Queue queue;
  void* token;
  std::vector<std::string> keys;
  std::vector<std::string> values;
  std::int64_t ttl_ms = 0;
  std::size_t pending = 0;
  Result result;
  std::optional<Result> failed;
};

/// clear_prefix and flush: one job per primary, the integers summed.
struct SumOp final : Counted, Parent {
  SumOp(std::shared_ptr<State> s, Queue q, void* t)
      : Counted(std::move(s)), queue(std::move(q)), token(t) {}
  void child_done(std::size_t, Result&& r) override {
    if (r.kind == Result::Kind::error) {
      if (!failed) failed.emplace(std::move(r));
    } else {
      sum += r.integer;
    }
    if (--pending == 0) {
      Result out;
      out.kind = Result::Kind::integer;
      out.integer = sum;
      state->complete(queue, token, failed ? std::move(*failed) : std::move(out));
      delete this;
    }
  }
  void on_result(Result&&) override {}
  Queue queue;
  void* token;
  std::size_t pending = 0;
  std::int64_t sum = 0;
  std::optional<Result> failed;
};

/// SCAN MATCH over one primary, UNLINKing each page's keys one command per key.
struct ScanJob final : Counted {
  ScanJob(std::shared_ptr<State> s, std::shared_ptr<net::Pool> p, std::string pat, Parent* o)
      : Counted(std::move(s)), pool(std::move(p)), pattern(std::move(pat)), owner(o) {}
  void scan() {
    deleting = false;
    pool->submit(op_scan, 1, state->relay, this, [&](std::string& out) {
      resp::CommandWriter(out, 6)
          .arg("SCAN")
          .arg(cursor)
          .arg("MATCH")
          .arg(pattern)
          .arg("COUNT")
          .arg(kScanCount);
    });
  }
  void on_result(Result&& r) override {
    if (r.kind == Result::Kind::error) return finish(std::move(r));
    if (!deleting) {
      cursor = r.integer;
      if (!r.items.empty()) {
        deleting = true;
        const auto n = static_cast<std::uint16_t>(std::min<std::size_t>(r.items.size(), 65535));
        pool->submit(op_unlink_each, n, state->relay, this, [&](std::string& out) {
          for (std::size_t i = 0; i < n; ++i)
            resp::CommandWriter(out, 2).arg("UNLINK").arg(r.items[i]);
        });
        return;
      }
    } else {
      removed += r.integer;
    }
    if (cursor == 0) {
      Result out;
      out.kind = Result::Kind::integer;
      out.integer = removed;
      return finish(std::move(out));
    }
    scan();
  }
  void finish(Result&& r) {
    owner->child_done(0, std::move(r));
    delete this;
  }
  std::shared_ptr<net::Pool> pool;
  std::string pattern;
  Parent* owner;
  std::int64_t cursor = 0;
  std::int64_t removed = 0;
  bool deleting = false;
};

/// MULTI DBSIZE FLUSHDB EXEC on one primary; kFlushScript when it is out of memory.
struct FlushJob final : Counted {
  FlushJob(std::shared_ptr<State> s, Parent* o, std::shared_ptr<net::Pool> p)
      : Counted(std::move(s)), owner(o), pool(std::move(p)) {}
  void submit() {
    if (scripted) {
      pool->submit(op_flush_script, 1, state->relay, this, [](std::string& out) {
        resp::CommandWriter(out, 3).arg("EVAL").arg(kFlushScript).arg("0");
      });
      return;
    }
    pool->submit(op_flush, 4, state->relay, this, [](std::string& out) {
      out.append(
          "*1\r\n$5\r\nMULTI\r\n*1\r\n$6\r\nDBSIZE\r\n*1\r\n$7\r\nFLUSHDB\r\n*1\r\n$"
          "4\r\nEXEC\r\n");
    });
  }
  void on_result(Result&& r) override {
    if (r.kind == Result::Kind::error && r.error_code == Errc::store_full && !scripted &&
        !state->closed()) {
      scripted = true;
      submit();
      return;
    }
    owner->child_done(0, std::move(r));
    delete this;
  }
  Parent* owner;
  std::shared_ptr<net::Pool> pool;
  bool scripted = false;
};

// Runs `start` on the I/O thread once a map exists (reading it first if needed).
template <class Start>
void with_topology(const std::shared_ptr<State>& state, const Queue& queue, void* token,
                   Start start) {
  asio::post(state->io, [state, queue, token, start = std::move(start)]() mutable {
    if (state->closed()) {
      state->complete(queue, token,
                      error_result(Errc::closed, state->name + ": the client is closed"));
      return;
    }
    if (auto t = state->snapshot()) return start(*t);
    // No map yet: read one, then start (or fail with the reason).
    struct Waiter final : Counted {
      Waiter(std::shared_ptr<State> s, Queue q, void* tk, Start st)
          : Counted(std::move(s)), queue(std::move(q)), token(tk), start(std::move(st)) {}
      void route() override {
        if (auto t = state->snapshot()) {
          start(*t);
        } else {
          state->complete(queue, token,
                          error_result(Errc::connection, state->name + ": no cluster map"));
        }
        delete this;
      }
      void on_result(Result&& r) override {
        state->complete(queue, token, std::move(r));
        delete this;
      }
      Queue queue;
      void* token;
      Start start;
    };
    auto* waiter = new Waiter(state, queue, token, std::move(start));
    {
      std::lock_guard lock(state->mutex);
      state->parked.push_back(waiter);
    }
    state->request_refresh();
  });
}

}  // namespace

ClusterClient::ClusterClient(ClusterOptions options) {
  if (options.seeds.empty()) {
    throw Error(Errc::invalid_argument, "a cluster client needs at least one seed node");
  }
  if (options.discovery == ClusterOptions::Discovery::sentinel && options.service_name.empty()) {
    throw Error(Errc::invalid_argument, "Sentinel discovery needs the service name");
  }
  for (const NodeAddress& a : options.seeds) {
    if (a.host.empty() || a.port == 0) {
      throw Error(Errc::invalid_argument, "every seed node needs a host and a port");
    }
  }
  if (options.pool_size == 0) options.pool_size = 1;
  state_ = std::make_shared<State>(std::move(options), net::detail::Engine::instance().context());
  asio::post(state_->io, [s = state_] {
    s->watch_relay();
    s->refresh_soon(true);
  });
}

ClusterClient::~ClusterClient() {
  close();
}

namespace {

void start_key(const std::shared_ptr<State>& state, KeyOp* op, const Queue& queue, void* token) {
  state->requests.fetch_add(1, std::memory_order_relaxed);
  op->queue = queue;
  op->token = token;
  op->route();
}

}  // namespace

void ClusterClient::get(std::string_view key, const Queue& queue, void* token) {
  start_key(state_, new KeyOp(state_, KeyOp::Kind::get, key), queue, token);
}

void ClusterClient::get_with_ttl(std::string_view key, const Queue& queue, void* token) {
  start_key(state_, new KeyOp(state_, KeyOp::Kind::get_with_ttl, key), queue, token);
}

void ClusterClient::set(std::string_view key, std::string_view value, std::int64_t ttl_ms,
                        const Queue& queue, void* token) {
  if (value.size() > kMaxValueSize) {
    throw Error(Errc::value_too_large, "values are limited to 512 MiB by the server");
  }
  start_key(state_, new KeyOp(state_, KeyOp::Kind::set, key, value, ttl_ms), queue, token);
}

void ClusterClient::add(std::string_view key, std::string_view value, std::int64_t ttl_ms,
                        const Queue& queue, void* token) {
  if (value.size() > kMaxValueSize) {
    throw Error(Errc::value_too_large, "values are limited to 512 MiB by the server");
  }
  start_key(state_, new KeyOp(state_, KeyOp::Kind::add, key, value, ttl_ms), queue, token);
}

void ClusterClient::del(std::string_view key, const Queue& queue, void* token) {
  start_key(state_, new KeyOp(state_, KeyOp::Kind::del, key), queue, token);
}

void ClusterClient::del_if_equal(std::string_view key, std::string_view value, const Queue& queue,
                                 void* token) {
  start_key(state_, new KeyOp(state_, KeyOp::Kind::del_if_equal, key, value), queue, token);
}

void ClusterClient::get_many(std::span<const std::string_view> keys, const Queue& queue,
                             void* token) {
  state_->requests.fetch_add(1, std::memory_order_relaxed);
  auto* op = new ManyOp(state_, false, queue, token);
  op->keys.assign(keys.begin(), keys.end());
  asio::post(state_->io, [op] { op->start(); });
}

void ClusterClient::set_many(std::span<const KeyValue> items, std::int64_t ttl_ms,
                             const Queue& queue, void* token) {
  for (const KeyValue& kv : items) {
    if (kv.second.size() > kMaxValueSize) {
      throw Error(Errc::value_too_large, "values are limited to 512 MiB by the server");
    }
  }
  state_->requests.fetch_add(1, std::memory_order_relaxed);
  auto* op = new ManyOp(state_, true, queue, token);
  op->ttl_ms = ttl_ms;
  for (const KeyValue& kv : items) {
    op->keys.emplace_back(kv.first);
    op->values.emplace_back(kv.second);
  }
  asio::post(state_->io, [op] { op->start(); });
}

void ClusterClient::clear_prefix(std::string_view prefix, const Queue& queue, void* token) {
  state_->requests.fetch_add(1, std::memory_order_relaxed);
  with_topology(
      state_, queue, token,
      [state = state_, queue, token, pattern = escape_glob(prefix) + "*"](const Topology& t) {
        auto* sum = new SumOp(state, queue, token);
        sum->pending = t.primaries.size();
        for (const auto& pool : t.primaries) {
          (new ScanJob(state, pool, pattern, sum))->scan();
        }
      });
}

void ClusterClient::flush(const Queue& queue, void* token) {
  state_->requests.fetch_add(1, std::memory_order_relaxed);
  with_topology(state_, queue, token, [state = state_, queue, token](const Topology& t) {
    auto* sum = new SumOp(state, queue, token);
    sum->pending = t.primaries.size();
    for (const auto& pool : t.primaries) {
      (new FlushJob(state, sum, pool))->submit();
    }
  });
}

void ClusterClient::flush_expired(const Queue& queue, void* token) {
  state_->requests.fetch_add(1, std::memory_order_relaxed);
  Result r;
  r.kind = Result::Kind::integer;  // every node expires its entries itself
  queue->push(net::Completion{token, std::move(r)});
}

void ClusterClient::refresh(const Queue& queue, void* token) {
  asio::post(state_->io, [s = state_, queue, token] {
    if (s->closed()) {
      s->complete(queue, token, error_result(Errc::closed, s->name + ": the client is closed"));
      return;
    }
    {
      std::lock_guard lock(s->mutex);
      s->refresh_waiters.emplace_back(queue, token);
    }
    s->refresh_soon(true);
  });
}

ClusterLayout ClusterClient::layout() const {
  ClusterLayout l;
  if (auto t = state_->snapshot()) {
    l.shards = t->map.shards().size();
    l.covered_slots = t->map.covered();
    l.standalone = t->standalone;
    l.primary = t->primary;
  }
  l.refreshes = state_->refreshes.load();
  return l;
}

void ClusterClient::close() {
  std::vector<std::shared_ptr<net::Pool>> pools;
  {
    std::lock_guard lock(state_->mutex);
    if (state_->closed_.exchange(true)) return;
    for (auto& [key, pool] : state_->pools) pools.push_back(pool);
    state_->pools.clear();
  }
  for (auto& pool : pools) pool->close();
  asio::post(state_->io, [s = state_] { s->close_on_io(); });
}

net::ClientStats ClusterClient::stats() const {
  net::ClientStats s;
  s.hits = state_->counters->hits.load();
  s.misses = state_->counters->misses.load();
  s.requests = state_->requests.load();
  s.errors = state_->errors.load();
  s.timeouts = state_->timeouts.load();
  std::lock_guard lock(state_->mutex);
  for (const auto& [key, pool] : state_->pools) {
    if (!key.starts_with("s ")) s.connected += pool->stats().connected;
  }
  return s;
}

const std::string& ClusterClient::name() const {
  return state_->name;
}

}  // namespace cachette::redis
