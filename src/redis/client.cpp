#include "cachette/redis/client.hpp"

#include <algorithm>
#include <limits>
#include <vector>

#include "cachette/resp/encoder.hpp"

namespace cachette::redis {

namespace {

constexpr std::size_t kMaxReplies = std::numeric_limits<std::uint16_t>::max();

// Deletes only a key that still holds ARGV[1]; the script text never changes, so the server
// caches it once, and user data only ever travels as KEYS/ARGV.
constexpr std::string_view kDeleteIfEqual =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) "
    "else return 0 end";

void check_value(std::string_view value) {
  if (value.size() > kMaxValueSize) {
    throw Error(Errc::value_too_large, "values are limited to 512 MiB by the server");
  }
}

void write_set(std::string& out, std::string_view key, std::string_view value, std::int64_t ttl_ms,
               bool only_if_absent) {
  const std::size_t args = 3 + (ttl_ms > 0 ? 2 : 0) + (only_if_absent ? 1 : 0);
  resp::CommandWriter w(out, args);
  w.arg("SET").arg(key).arg(value);
  if (only_if_absent) w.arg("NX");
  if (ttl_ms > 0) w.arg("PX").arg(ttl_ms);
}

// clear_prefix: SCAN a page, UNLINK what it matched, until the cursor comes back to 0. Each
// step is one round trip with its own deadline.
class ScanClear final : public net::Continuation {
 public:
  ScanClear(std::shared_ptr<net::Pool> pool, std::string prefix, net::Target target)
      : pool_(std::move(pool)), pattern_(escape_glob(prefix) + "*"), target_(std::move(target)) {}

  void scan() {
    scanning_ = true;
    pool_->submit(op_scan, 1, this, [this](std::string& out) {
      resp::CommandWriter(out, 6)
          .arg("SCAN")
          .arg(cursor_)
          .arg("MATCH")
          .arg(pattern_)
          .arg("COUNT")
          .arg(kScanCount);
    });
  }

  void resume(net::Result&& result) override {
    if (result.kind == net::Result::Kind::error) return finish(std::move(result));
    if (!scanning_) {
      removed_ += result.integer;
      if (cursor_ == 0) return finish_count();
      return scan();
    }
    cursor_ = result.integer;
    if (result.items.empty()) {
      if (cursor_ == 0) return finish_count();
      return scan();
    }
    scanning_ = false;
    keys_ = std::move(result.items);
    pool_->submit(op_count, 1, this, [this](std::string& out) {
      resp::CommandWriter w(out, keys_.size() + 1);
      w.arg("UNLINK");
      for (const std::string& k : keys_) w.arg(k);
    });
  }

 private:
  void finish_count() {
    net::Result done;
    done.kind = net::Result::Kind::integer;
    done.integer = removed_;
    finish(std::move(done));
  }
  void finish(net::Result&& result) {
    net::Target target = std::move(target_);
    delete this;
    net::deliver(target, std::move(result));
  }

  std::shared_ptr<net::Pool> pool_;
  std::string pattern_;
  net::Target target_;
  std::int64_t cursor_ = 0;
  std::int64_t removed_ = 0;
  std::vector<std::string> keys_;
  bool scanning_ = true;
};

// get_with_ttl and flush: sent as MULTI/EXEC; when a server out of memory refuses that
// (store_full), sent once more as the equivalent fixed script (see kReadWithTtlScript).
class ScriptWhenFull final : public net::Continuation {
 public:
  ScriptWhenFull(std::shared_ptr<net::Pool> pool, std::uint16_t op, std::string key,
                 net::Target target)
      : pool_(std::move(pool)), op_(op), key_(std::move(key)), target_(std::move(target)) {}

  void resume(net::Result&& result) override {
    if (!scripted_ && result.kind == net::Result::Kind::error &&
        result.error_code == Errc::store_full) {
      scripted_ = true;
      return submit();
    }
    net::Target target = std::move(target_);
    delete this;
    net::deliver(target, std::move(result));
  }

  void submit() {
    if (op_ == op_flush) {
      if (scripted_) {
        return pool_->submit(op_flush_script, 1, this, [](std::string& out) {
          resp::CommandWriter(out, 3).arg("EVAL").arg(kFlushScript).arg("0");
        });
      }
      return pool_->submit(op_flush, 4, this, [](std::string& out) {
        out.append(
            "*1\r\n$5\r\nMULTI\r\n*1\r\n$6\r\nDBSIZE\r\n*1\r\n$7\r\nFLUSHDB\r\n*1\r\n$"
            "4\r\nEXEC\r\n");
      });
    }
    if (scripted_) {
      return pool_->submit(op_get_with_ttl_script, 1, this, [this](std::string& out) {
        resp::CommandWriter(out, 4).arg("EVAL").arg(kReadWithTtlScript).arg("1").arg(key_);
      });
    }
    pool_->submit(op_get_with_ttl, 4, this, [this](std::string& out) {
      out.append("*1\r\n$5\r\nMULTI\r\n");
      resp::CommandWriter(out, 2).arg("PTTL").arg(key_);
      resp::CommandWriter(out, 2).arg("GET").arg(key_);
      out.append("*1\r\n$4\r\nEXEC\r\n");
    });
  }

 private:
  std::shared_ptr<net::Pool> pool_;
  std::uint16_t op_;
  std::string key_;
  net::Target target_;
  bool scripted_ = false;
};

std::string server_name(const ClientOptions& o) {
  if (!o.endpoint.unix_path.empty()) return o.kind + " unix:" + o.endpoint.unix_path;
  return o.kind + " " + o.endpoint.host + ":" + std::to_string(o.endpoint.port);
}

}  // namespace

Client::Client(ClientOptions options) : counters_(std::make_shared<net::HitCounters>()) {
  auto credentials = std::make_shared<const Credentials>(std::move(options.credentials));
  net::PoolOptions pool;
  pool.name = server_name(options);
  pool.endpoint = std::move(options.endpoint);
  pool.timeout = options.timeout;
  pool.connect_timeout = options.connect_timeout;
  pool.size = options.pool_size;
  pool.make_protocol = [credentials, counters = counters_] {
    return std::make_unique<RespProtocol>(credentials, counters);
  };
  pool_ = net::Pool::create(std::move(pool));
}

Client::~Client() {
  pool_->close();
}

void Client::get(std::string_view key, const Queue& queue, void* token) {
  pool_->submit(op_get, 1, queue, token,
                [&](std::string& out) { resp::CommandWriter(out, 2).arg("GET").arg(key); });
}

void Client::get_with_ttl(std::string_view key, const Queue& queue, void* token) {
  (new ScriptWhenFull(pool_, op_get_with_ttl, std::string(key), {queue, token}))->submit();
}

void Client::set(std::string_view key, std::string_view value, std::int64_t ttl_ms,
                 const Queue& queue, void* token) {
  check_value(value);
  pool_->submit(op_set, 1, queue, token,
                [&](std::string& out) { write_set(out, key, value, ttl_ms, false); });
}

void Client::add(std::string_view key, std::string_view value, std::int64_t ttl_ms,
                 const Queue& queue, void* token) {
  check_value(value);
  pool_->submit(op_add, 1, queue, token,
                [&](std::string& out) { write_set(out, key, value, ttl_ms, true); });
}

void Client::del_if_equal(std::string_view key, std::string_view value, const Queue& queue,
                          void* token) {
  pool_->submit(op_count, 1, queue, token, [&](std::string& out) {
    resp::CommandWriter(out, 5).arg("EVAL").arg(kDeleteIfEqual).arg("1").arg(key).arg(value);
  });
}

void Client::get_many(std::span<const std::string_view> keys, const Queue& queue, void* token) {
  if (keys.empty()) {
    net::Result none;
    none.kind = net::Result::Kind::values;
    net::complete_now(queue, token, std::move(none));
    return;
  }
  pool_->submit(op_get_many, 1, queue, token, [&](std::string& out) {
    resp::CommandWriter w(out, keys.size() + 1);
    w.arg("MGET");
    for (std::string_view k : keys) w.arg(k);
  });
}

void Client::set_many(std::span<const KeyValue> items, std::int64_t ttl_ms, const Queue& queue,
                      void* token) {
  for (const KeyValue& kv : items) check_value(kv.second);
  auto encode_chunk = [&](std::span<const KeyValue> chunk) {
    return [chunk, ttl_ms](std::string& out) {
      for (const KeyValue& kv : chunk) write_set(out, kv.first, kv.second, ttl_ms, false);
    };
  };
  net::Result ok;
  ok.kind = net::Result::Kind::ok;
  if (items.empty()) return net::complete_now(queue, token, std::move(ok));
  if (items.size() <= kMaxReplies) {
    pool_->submit(op_set_many, static_cast<std::uint16_t>(items.size()), queue, token,
                  encode_chunk(items));
    return;
  }
  const std::size_t chunks = (items.size() + kMaxReplies - 1) / kMaxReplies;
  auto* join = new net::Join({queue, token}, chunks, std::move(ok),
                             [](std::size_t, net::Result&&, net::Result&) {});
  for (std::size_t c = 0; c < chunks; ++c) {
    std::span<const KeyValue> chunk =
        items.subspan(c * kMaxReplies, std::min(kMaxReplies, items.size() - c * kMaxReplies));
    pool_->submit(op_set_many, static_cast<std::uint16_t>(chunk.size()), join->part(c),
                  encode_chunk(chunk));
  }
}

void Client::clear_prefix(std::string_view prefix, const Queue& queue, void* token) {
  auto* op = new ScanClear(pool_, std::string(prefix), {queue, token});
  op->scan();
}

void Client::flush_expired(const Queue& queue, void* token) {
  net::Result zero;
  zero.kind = net::Result::Kind::integer;
  net::complete_now(queue, token, std::move(zero));
}

net::ClientStats Client::stats() const {
  const net::PoolStats p = pool_->stats();
  net::ClientStats s;
  s.hits = counters_->hits.load(std::memory_order_relaxed);
  s.misses = counters_->misses.load(std::memory_order_relaxed);
  s.requests = p.requests;
  s.errors = p.errors;
  s.timeouts = p.timeouts;
  s.connected = p.connected;
  return s;
}

void Client::del(std::string_view key, const Queue& queue, void* token) {
  pool_->submit(op_count, 1, queue, token,
                [&](std::string& out) { resp::CommandWriter(out, 2).arg("DEL").arg(key); });
}

void Client::scan_prefix(std::int64_t cursor, std::string_view prefix, std::int64_t count,
                         const Queue& queue, void* token) {
  const std::string pattern = escape_glob(prefix) + "*";
  pool_->submit(op_scan, 1, queue, token, [&](std::string& out) {
    resp::CommandWriter(out, 6).arg("SCAN").arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(
        count);
  });
}

void Client::unlink(std::span<const std::string_view> keys, const Queue& queue, void* token) {
  pool_->submit(op_count, 1, queue, token, [&](std::string& out) {
    resp::CommandWriter w(out, keys.size() + 1);
    w.arg("UNLINK");
    for (std::string_view k : keys) w.arg(k);
  });
}

void Client::flush(const Queue& queue, void* token) {
  (new ScriptWhenFull(pool_, op_flush, std::string(), {queue, token}))->submit();
}

void Client::command(std::span<const std::string_view> args, const Queue& queue, void* token) {
  if (args.empty()) throw Error(Errc::invalid_argument, "a command needs at least its name");
  pool_->submit(op_command, 1, queue, token,
                [&](std::string& out) { resp::append_command(out, args); });
}

}  // namespace cachette::redis
