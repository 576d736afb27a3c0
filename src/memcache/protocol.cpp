#include "cachette/memcache/protocol.hpp"

#include <string_view>
#include <utility>

namespace cachette::memcache {

namespace {

constexpr std::string_view kTooLarge = "object too large";

std::string reply_text(const Reply& reply) {
  std::string text = to_string(reply.kind);
  if (!reply.text.empty()) {
    text += ' ';
    text.append(reply.text);
  }
  return text;
}

}  // namespace

ProtocolBase::ProtocolBase(std::shared_ptr<const ServerContext> server)
    : server_(std::move(server)), parser_(ParserLimits{4096, server_->max_value}) {}

void ProtocolBase::reset() {
  parser_.reset();
  fatal_.clear();
  login_ = Login::sent;
}

std::span<const net::Request> ProtocolBase::handshake(std::string& out) {
  handshake_.clear();
  login_ = Login::sent;
  const Credentials& c = server_->credentials;
  if (!c.username.empty() && encode_auth(out, c.username, c.password)) {
    net::Request login;
    login.op = op_auth;
    handshake_.push_back(std::move(login));
  }
  return handshake_;
}

std::span<char> ProtocolBase::prepare(std::size_t min_size) {
  if (receive_.size() < min_size) receive_.resize(min_size);
  return {receive_.data(), receive_.size()};
}

void ProtocolBase::commit(std::size_t n) {
  parser_.feed(std::string_view(receive_.data(), n));
}

std::optional<Reply> ProtocolBase::next_reply() {
  Reply reply;
  switch (parser_.next(reply)) {
    case ParseStatus::reply: return reply;
    case ParseStatus::need_more: return std::nullopt;
    case ParseStatus::error:
      fatal_ = server_->name + " sent a malformed reply (" + to_string(parser_.error()) + ")";
      return std::nullopt;
  }
  return std::nullopt;
}

net::ReadStatus ProtocolBase::fatal(std::string message) {
  fatal_ = std::move(message);
  return net::ReadStatus::fatal;
}

net::ReadStatus ProtocolBase::read_login(net::Result& result) {
  // See encode_auth: STORED then MN (logged in), CLIENT_ERROR (refused), or, from a server
  // that does not ask for a login, a refusal of the set, the data line's answers, then MN.
  for (;;) {
    std::optional<Reply> next = next_reply();
    if (!next) return fatal_.empty() ? net::ReadStatus::need_more : net::ReadStatus::fatal;
    const Reply& reply = *next;
    const bool refused = reply.kind == ReplyKind::client_error &&
                         (reply.text.find("authentication") != std::string_view::npos ||
                          reply.text.find("unauthenticated") != std::string_view::npos);
    switch (login_) {
      case Login::sent:
        if (reply.kind == ReplyKind::stored) {
          login_ = Login::accepted;
          continue;
        }
        if (refused) break;
        login_ = Login::not_asked;  // the set was refused as a command: no login here
        continue;
      case Login::accepted:
        if (reply.kind != ReplyKind::noop) break;
        result.kind = net::Result::Kind::ok;
        return net::ReadStatus::reply;
      case Login::not_asked:
        if (reply.kind != ReplyKind::noop) continue;
        result.kind = net::Result::Kind::ok;
        return net::ReadStatus::reply;
    }
    result.set_error(Errc::auth, server_->name + " refused the credentials (" + reply_text(reply) +
                                     "); check the user and password of its auth file (-Y)");
    return net::ReadStatus::reply;
  }
}

void ProtocolBase::unexpected(const Reply& reply, net::Result& result) const {
  Errc code = Errc::protocol;
  if (reply.kind == ReplyKind::client_error &&
      reply.text.find("unauthenticated") != std::string_view::npos) {
    code = Errc::auth;
  }
  // memcached's answer to a write it has no memory for (every slab full and eviction off
  // with -M, or no page left for the item's slab class).
  if (reply.kind == ReplyKind::server_error &&
      reply.text.find("out of memory") != std::string_view::npos) {
    code = Errc::store_full;
  }
  result.set_error(code, server_->name + " answered " + reply_text(reply));
}

net::ReadStatus MetaProtocol::read_reply(std::uint16_t op, std::uint16_t index,
                                         net::Result& result) {
  if (op == op_auth) return read_login(result);
  std::optional<Reply> next = next_reply();
  if (!next) return fatal_.empty() ? net::ReadStatus::need_more : net::ReadStatus::fatal;
  const Reply& reply = *next;
  switch (op) {
    case op_get:
    case op_get_ttl:
      if (reply.kind == ReplyKind::value) {
        counters_->hits.fetch_add(1, std::memory_order_relaxed);
        result.value.assign(reply.data);
        if (op == op_get_ttl) {
          const std::int64_t ttl = reply.flags.ttl.value_or(-1);
          result.kind = net::Result::Kind::ttl_value;
          result.integer = ttl < 0 ? -1 : ttl * 1000;
        } else {
          result.kind = net::Result::Kind::value;
        }
      } else if (reply.kind == ReplyKind::miss) {
        counters_->misses.fetch_add(1, std::memory_order_relaxed);
        result.kind = net::Result::Kind::nil;
      } else {
        unexpected(reply, result);
      }
      break;
    case op_set:
    case op_set_many:
    case op_add:
      if (reply.kind == ReplyKind::header) {
        if (op == op_add) {
          result.kind = net::Result::Kind::integer;
          result.integer = 1;
        } else if (result.kind != net::Result::Kind::error) {
          result.kind = net::Result::Kind::ok;
        }
      } else if (op == op_add && reply.kind == ReplyKind::not_stored) {
        result.kind = net::Result::Kind::integer;
        result.integer = 0;
      } else if (reply.kind == ReplyKind::server_error &&
                 reply.text.find(kTooLarge) != std::string_view::npos) {
        // memcached has read and dropped the data block, and unlinked the key's old value.
        result.set_error(Errc::value_too_large,
                         "the value is over the item size limit of " + server_->name +
                             " (its -I setting, 1 MiB unless changed); nothing was stored "
                             "and the key's previous value, if any, was removed");
      } else {
        unexpected(reply, result);
      }
      break;
    case op_get_cas:
      if (reply.kind == ReplyKind::value) {
        result.kind = net::Result::Kind::value;
        result.value.assign(reply.data);
        result.integer = static_cast<std::int64_t>(reply.flags.cas.value_or(0));
      } else if (reply.kind == ReplyKind::miss) {
        result.kind = net::Result::Kind::nil;
      } else {
        unexpected(reply, result);
      }
      break;
    case op_delete_cas:
      if (reply.kind == ReplyKind::header) {
        result.kind = net::Result::Kind::integer;
        result.integer = 1;
      } else if (reply.kind == ReplyKind::not_found || reply.kind == ReplyKind::exists) {
        result.kind = net::Result::Kind::integer;
        result.integer = 0;
      } else {
        unexpected(reply, result);
      }
      break;
    case op_get_many:
      if (index == 0) {
        result.kind = net::Result::Kind::values;
        result.items.clear();
        result.present.clear();
      }
      if (reply.kind == ReplyKind::value) {
        counters_->hits.fetch_add(1, std::memory_order_relaxed);
        result.items.emplace_back(reply.data);
        result.present.push_back(1);
      } else if (reply.kind == ReplyKind::miss) {
        counters_->misses.fetch_add(1, std::memory_order_relaxed);
        result.items.emplace_back();
        result.present.push_back(0);
      } else {
        unexpected(reply, result);
      }
      break;
    case op_delete:
      if (index == 0) {
        result.kind = net::Result::Kind::integer;
        result.integer = 0;
      }
      if (reply.kind == ReplyKind::header) {
        ++result.integer;
      } else if (reply.kind != ReplyKind::not_found) {
        unexpected(reply, result);
      }
      break;
    case op_flush_all:
      if (reply.kind == ReplyKind::ok) {
        result.kind = net::Result::Kind::ok;
      } else {
        unexpected(reply, result);
      }
      break;
    default:
      return fatal(server_->name + " sent a reply nobody asked for (" + reply_text(reply) + ")");
  }
  return net::ReadStatus::reply;
}

net::ReadStatus DumpProtocol::read_reply(std::uint16_t op, std::uint16_t /*index*/,
                                         net::Result& result) {
  if (op == op_auth) return read_login(result);
  while (true) {
    std::optional<Reply> next = next_reply();
    if (!next) return fatal_.empty() ? net::ReadStatus::need_more : net::ReadStatus::fatal;
    const Reply& reply = *next;
    if (op != op_dump) {
      return fatal(server_->name + " sent a reply nobody asked for (" + reply_text(reply) + ")");
    }
    if (job_->count_only && reply.kind == ReplyKind::metadump_entry) {
      ++result.integer;
      continue;
    }
    if (job_->count_only && reply.kind == ReplyKind::end) {
      result.kind = net::Result::Kind::integer;
      job_->finished.store(true, std::memory_order_release);
      return net::ReadStatus::reply;
    }
    switch (job_->scan.on_reply(reply)) {
      case PrefixScan::Step::more: continue;
      case PrefixScan::Step::done:
        result.kind = net::Result::Kind::list;
        result.items = job_->scan.matches();
        result.integer = static_cast<std::int64_t>(job_->scan.undecided().size());
        break;
      case PrefixScan::Step::busy:
        result.kind = net::Result::Kind::nil;
        result.integer = 0;
        break;
      case PrefixScan::Step::refused: {
        std::string message = server_->name + " refused the key dump (" + job_->scan.text() + ")";
        if (job_->scan.text().find("disabled") != std::string::npos) {
          message +=
              "; clearing a namespace needs the LRU crawler (do not start memcached "
              "with -o no_lru_crawler)";
        }
        result.set_error(reply.kind == ReplyKind::client_error &&
                                 job_->scan.text().find("unauthenticated") != std::string::npos
                             ? Errc::auth
                             : Errc::protocol,
                         std::move(message));
        break;
      }
    }
    job_->finished.store(true, std::memory_order_release);
    return net::ReadStatus::reply;
  }
}

}  // namespace cachette::memcache
