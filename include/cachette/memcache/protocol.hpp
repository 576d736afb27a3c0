#pragma once
/// memcached's meta protocol as a net::Protocol: what the engine's connections speak to one
/// memcached server. MetaProtocol serves the pooled connections (mg, ms, md, flush_all);
/// DumpProtocol serves the short-lived connection a metadump needs for itself (memcached hands
/// the connection to its crawler until END and drops whatever was pipelined around the dump).

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cachette/memcache/encoder.hpp"
#include "cachette/memcache/metadump.hpp"
#include "cachette/memcache/parser.hpp"
#include "cachette/net/operation.hpp"
#include "cachette/net/protocol.hpp"

namespace cachette::memcache {

/// Opcodes of the requests the memcached client sends, with the Result each produces.
enum Op : std::uint16_t {
  op_get = 1,     ///< mg v        -> value | nil
  op_get_ttl,     ///< mg v t      -> ttl_value (ms, -1 = never expires) | nil
  op_set,         ///< ms T        -> ok | error(value_too_large)
  op_delete,      ///< md, one per reply of the request -> integer: how many answered HD
  op_flush_all,   ///< flush_all   -> ok
  op_dump,        ///< lru_crawler metadump -> list (matching stored keys) or integer (count
                  ///< only); nil when the crawler is busy and the dump should be retried
  op_auth,        ///< handshake: the `-Y` login
  op_add,         ///< ms ME       -> integer: 1 stored, 0 the key existed | error(value_too_large)
  op_get_cas,     ///< mg v c      -> value (integer = the item's CAS) | nil
  op_delete_cas,  ///< md C        -> integer: 1 deleted, 0 absent or changed since read
  op_get_many,    ///< mg v, one per reply -> values, in request order
  op_set_many,    ///< ms, one per reply   -> ok (the first error wins)
};

/// Credentials for a server started with an auth file (-Y); empty username = none.
struct Credentials {
  std::string username;
  std::string password;
};

/// Shared by every connection to one server: what the handshake sends, and how messages name it.
struct ServerContext {
  std::string name;  ///< "memcached 127.0.0.1:11211"; never credentials
  Credentials credentials;
  std::size_t max_value = 256u << 20;  ///< largest VA block accepted from this server
};

/// Handshake and reply decoding shared by both protocols.
class ProtocolBase : public net::Protocol {
 public:
  explicit ProtocolBase(std::shared_ptr<const ServerContext> server);

  void reset() override;
  std::span<const net::Request> handshake(std::string& out) override;
  std::span<char> prepare(std::size_t min_size) override;
  void commit(std::size_t n) override;
  std::string fatal_message() const override { return fatal_; }

 protected:
  /// The next complete reply, or nullopt (need more bytes, or fatal_ set on a parse error).
  std::optional<Reply> next_reply();
  net::ReadStatus fatal(std::string message);
  /// Consumes the login's replies (see encode_auth) into `result`: ok when logged in or when
  /// the server does not ask for a login, an auth error when it refused the credentials.
  net::ReadStatus read_login(net::Result& result);
  /// A reply that is not what `op` expects: error lines map to protocol errors.
  void unexpected(const Reply& reply, net::Result& result) const;

  std::shared_ptr<const ServerContext> server_;
  Parser parser_;
  std::string fatal_;

 private:
  std::string receive_;
  std::vector<net::Request> handshake_;
  enum class Login : std::uint8_t { sent, accepted, not_asked };
  Login login_ = Login::sent;
};

class MetaProtocol final : public ProtocolBase {
 public:
  MetaProtocol(std::shared_ptr<const ServerContext> server,
               std::shared_ptr<net::HitCounters> counters)
      : ProtocolBase(std::move(server)), counters_(std::move(counters)) {}

  net::ReadStatus read_reply(std::uint16_t op, std::uint16_t index, net::Result& result) override;

 private:
  std::shared_ptr<net::HitCounters> counters_;
};

/// One metadump, and what it collects. Shared between the client (which keeps the dump's
/// connection alive until `finished`) and the protocol on the I/O thread.
struct DumpJob {
  DumpJob(std::string prefix, bool count) : scan(std::move(prefix)), count_only(count) {}
  PrefixScan scan;
  bool count_only;                    ///< return how many items exist instead of keys
  std::atomic<bool> finished{false};  ///< the dump's reply was delivered
};

class DumpProtocol final : public ProtocolBase {
 public:
  DumpProtocol(std::shared_ptr<const ServerContext> server, std::shared_ptr<DumpJob> job)
      : ProtocolBase(std::move(server)), job_(std::move(job)) {}

  net::ReadStatus read_reply(std::uint16_t op, std::uint16_t index, net::Result& result) override;

 private:
  std::shared_ptr<DumpJob> job_;
};

}  // namespace cachette::memcache
