#include "cachette/redis/client.hpp"

#include "cachette/resp/encoder.hpp"

namespace cachette::redis {

namespace {

std::string server_name(const ClientOptions& o) {
  if (!o.endpoint.unix_path.empty()) return o.kind + " unix:" + o.endpoint.unix_path;
  return o.kind + " " + o.endpoint.host + ":" + std::to_string(o.endpoint.port);
}

}  // namespace

Client::Client(ClientOptions options) : counters_(std::make_shared<Counters>()) {
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
  pool_->submit(op_get_with_ttl, 4, queue, token, [&](std::string& out) {
    out.append("*1\r\n$5\r\nMULTI\r\n");
    resp::CommandWriter(out, 2).arg("PTTL").arg(key);
    resp::CommandWriter(out, 2).arg("GET").arg(key);
    out.append("*1\r\n$4\r\nEXEC\r\n");
  });
}

void Client::set(std::string_view key, std::string_view value, std::int64_t ttl_ms,
                 const Queue& queue, void* token) {
  if (value.size() > kMaxValueSize) {
    throw Error(Errc::value_too_large, "values are limited to 512 MiB by the server");
  }
  pool_->submit(op_set, 1, queue, token, [&](std::string& out) {
    if (ttl_ms > 0) {
      resp::CommandWriter(out, 5).arg("SET").arg(key).arg(value).arg("PX").arg(ttl_ms);
    } else {
      resp::CommandWriter(out, 3).arg("SET").arg(key).arg(value);
    }
  });
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
  pool_->submit(op_flush, 4, queue, token, [&](std::string& out) {
    out.append(
        "*1\r\n$5\r\nMULTI\r\n*1\r\n$6\r\nDBSIZE\r\n*1\r\n$7\r\nFLUSHDB\r\n*1\r\n$4\r\nEXEC\r\n");
  });
}

void Client::command(std::span<const std::string_view> args, const Queue& queue, void* token) {
  if (args.empty()) throw Error(Errc::invalid_argument, "a command needs at least its name");
  pool_->submit(op_command, 1, queue, token,
                [&](std::string& out) { resp::append_command(out, args); });
}

}  // namespace cachette::redis
