#include "cachette/redis/protocol.hpp"

#include <charconv>

#include "cachette/resp/encoder.hpp"

namespace cachette::redis {

using net::ReadStatus;
using net::Result;
using resp::Node;
using resp::Type;

namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Renders a scalar as text for op_command lists.
std::string scalar_text(const Node& n) {
  if (n.type == Type::integer || n.type == Type::boolean) return std::to_string(n.integer);
  return std::string(n.text);
}

}  // namespace

Errc classify_error(std::string_view message) {
  if (starts_with(message, "WRONGPASS") || starts_with(message, "NOAUTH") ||
      starts_with(message, "NOPERM") || starts_with(message, "ERR invalid password") ||
      starts_with(message, "ERR AUTH")) {
    return Errc::auth;
  }
  if (starts_with(message, "OOM ")) return Errc::store_full;
  return Errc::protocol;
}

std::string escape_glob(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

RespProtocol::RespProtocol(std::shared_ptr<const Credentials> credentials,
                           std::shared_ptr<net::HitCounters> counters)
    : credentials_(std::move(credentials)), counters_(std::move(counters)) {}

void RespProtocol::reset() {
  parser_ = resp::Parser();
}

std::span<const net::Request> RespProtocol::handshake(std::string& out) {
  handshake_.clear();
  const Credentials& c = *credentials_;
  if (!resp2_) {
    const bool auth = !c.password.empty();
    resp::CommandWriter w(out, auth ? 5 : 2);
    w.arg("HELLO").arg("3");
    if (auth) w.arg("AUTH").arg(c.username.empty() ? "default" : c.username).arg(c.password);
    handshake_.push_back({op_hello, 1, nullptr, nullptr, {}, 0});
  } else if (!c.password.empty()) {
    if (c.username.empty()) {
      resp::append_command(out, {"AUTH", c.password});
    } else {
      resp::append_command(out, {"AUTH", c.username, c.password});
    }
    handshake_.push_back({op_auth, 1, nullptr, nullptr, {}, 0});
  }
  if (c.db != 0) {
    resp::CommandWriter(out, 2).arg("SELECT").arg(c.db);
    handshake_.push_back({op_select, 1, nullptr, nullptr, {}, 0});
  }
  return handshake_;
}

ReadStatus RespProtocol::read_reply(std::uint16_t op, std::uint16_t index, Result& result) {
  for (;;) {
    const resp::Status status = parser_.next();
    if (status == resp::Status::need_more) return ReadStatus::need_more;
    if (status == resp::Status::error) return ReadStatus::fatal;
    std::span<const Node> reply = parser_.reply();
    if (reply[0].type == Type::push) continue;  // out-of-band (we never subscribe)
    decode(op, index, reply, result);
    return ReadStatus::reply;
  }
}

void RespProtocol::decode(std::uint16_t op, std::uint16_t index, std::span<const Node> reply,
                          Result& result) {
  const Node& root = reply[0];
  if (root.is_error()) {
    if (op == op_hello && classify_error(root.text) != Errc::auth &&
        (starts_with(root.text, "NOPROTO") || starts_with(root.text, "ERR unknown command"))) {
      resp2_ = true;
      result.set_error(Errc::protocol, "the server does not speak RESP3; retrying with RESP2");
      return;
    }
    std::string message(root.text);
    if (op == op_hello || op == op_auth) message = "authentication failed: " + message;
    if (op == op_select) message = "SELECT failed: " + message;
    result.set_error(classify_error(root.text), std::move(message));
    return;
  }
  if (result.kind == Result::Kind::error) return;  // an earlier reply of this request failed
  switch (op) {
    case op_get:
      if (root.is_text()) {
        result.kind = Result::Kind::value;
        if (parser_.owns_payload()) {
          result.value = parser_.take_payload();  // a large value: moved, not copied
        } else {
          result.value.assign(root.text);
        }
        counters_->hits.fetch_add(1, std::memory_order_relaxed);
      } else {
        result.kind = Result::Kind::nil;
        counters_->misses.fetch_add(1, std::memory_order_relaxed);
      }
      return;
    case op_get_with_ttl:
    case op_flush:
      if (index < 3) return;  // +OK for MULTI, +QUEUED for each command
      if (root.type != Type::array || root.size != 2) {
        result.set_error(Errc::protocol, "the transaction was aborted");
        return;
      }
      if (op == op_flush) {
        result.kind = Result::Kind::integer;
        result.integer = reply[1].integer;
        return;
      }
      if (reply[2].is_text()) {
        result.kind = Result::Kind::ttl_value;
        result.integer = reply[1].integer;
        result.value.assign(reply[2].text);
        counters_->hits.fetch_add(1, std::memory_order_relaxed);
      } else {
        result.kind = Result::Kind::nil;
        counters_->misses.fetch_add(1, std::memory_order_relaxed);
      }
      return;
    case op_get_with_ttl_script:
      if (root.type == Type::array && root.size == 2 && reply[2].is_text()) {
        result.kind = Result::Kind::ttl_value;
        result.integer = reply[1].integer;
        result.value.assign(reply[2].text);
        counters_->hits.fetch_add(1, std::memory_order_relaxed);
      } else {
        result.kind = Result::Kind::nil;
        counters_->misses.fetch_add(1, std::memory_order_relaxed);
      }
      return;
    case op_flush_script:
      result.kind = Result::Kind::integer;
      result.integer = root.type == Type::integer ? root.integer : 0;
      return;
    case op_add:
      result.kind = Result::Kind::integer;
      result.integer = root.type == Type::null ? 0 : 1;
      return;
    case op_get_many: {
      result.kind = Result::Kind::values;
      result.items.clear();
      result.present.clear();
      if (root.type != Type::array) {
        result.set_error(Errc::protocol, "unexpected MGET reply");
        return;
      }
      result.items.resize(root.size);
      result.present.resize(root.size);
      std::uint64_t hits = 0;
      for (std::size_t i = 0; i < root.size; ++i) {
        const Node& n = reply[i + 1];
        if (n.is_text()) {
          result.items[i].assign(n.text);
          result.present[i] = 1;
          ++hits;
        }
      }
      counters_->hits.fetch_add(hits, std::memory_order_relaxed);
      counters_->misses.fetch_add(root.size - hits, std::memory_order_relaxed);
      return;
    }
    case op_set_many:
    case op_set:
    case op_hello:
    case op_auth:
    case op_select: result.kind = Result::Kind::ok; return;
    case op_count:
      result.kind = Result::Kind::integer;
      result.integer = root.type == Type::integer ? root.integer : 0;
      return;
    case op_scan: {
      if (root.type != Type::array || root.size != 2 || !reply[1].is_text() ||
          reply[2].type != Type::array) {
        result.set_error(Errc::protocol, "unexpected SCAN reply");
        return;
      }
      std::int64_t cursor = 0;
      std::from_chars(reply[1].text.data(), reply[1].text.data() + reply[1].text.size(), cursor);
      result.kind = Result::Kind::list;
      result.integer = cursor;
      result.items.clear();
      for (std::size_t i = 3; i < reply.size(); ++i) result.items.emplace_back(reply[i].text);
      return;
    }
    case op_command:
      switch (root.type) {
        case Type::null: result.kind = Result::Kind::nil; return;
        case Type::integer:
        case Type::boolean:
          result.kind = Result::Kind::integer;
          result.integer = root.integer;
          return;
        case Type::array:
        case Type::set:
        case Type::map:
          // Flattened: nested aggregates contribute their scalars in order.
          result.kind = Result::Kind::list;
          result.items.clear();
          for (std::size_t i = 1; i < reply.size(); ++i) {
            if (reply[i].type != Type::array && reply[i].type != Type::map &&
                reply[i].type != Type::set) {
              result.items.push_back(scalar_text(reply[i]));
            }
          }
          return;
        default:
          result.kind = Result::Kind::value;
          result.value = scalar_text(root);
          return;
      }
    default: return;  // replies to nothing (checked by the connection) are only counted
  }
}

}  // namespace cachette::redis
