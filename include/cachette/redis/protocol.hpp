#pragma once
/// RESP as an engine Protocol: the handshake (HELLO 3 with AUTH, falling back to AUTH for
/// RESP2 servers, then SELECT) and the decoding of each command's replies into a net::Result.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cachette/net/operation.hpp"
#include "cachette/net/protocol.hpp"
#include "cachette/resp/parser.hpp"

namespace cachette::redis {

/// Opcodes of the requests the Redis client sends.
enum Op : std::uint16_t {
  op_get = 1,       ///< GET -> value | nil
  op_get_with_ttl,  ///< MULTI PTTL GET EXEC (4 replies) -> ttl_value | nil
  op_set,           ///< SET ... -> ok
  op_count,         ///< DEL / UNLINK / DBSIZE... -> integer
  op_scan,          ///< SCAN -> list (integer = next cursor, items = keys)
  op_flush,         ///< MULTI DBSIZE FLUSHDB EXEC (4 replies) -> integer (keys before)
  op_command,       ///< any command -> the reply in its natural shape (tests, tools)
  op_add,           ///< SET ... NX -> integer: 1 stored, 0 the key existed
  op_get_many,      ///< MGET -> values
  op_set_many,      ///< one SET per reply -> ok (the first error wins)
  op_hello,         ///< handshake steps
  op_auth,
  op_select,
  op_get_with_ttl_script,  ///< EVAL kReadWithTtlScript -> ttl_value | nil
  op_flush_script,         ///< EVAL kFlushScript -> integer (keys before)
};

/// A server out of memory (maxmemory with noeviction) refuses to queue any command inside
/// MULTI, so the MULTI/EXEC forms of get_with_ttl and flush fail as a whole, although each
/// command alone is allowed then. On that refusal (Errc::store_full) the clients send the same
/// work once more as one of these fixed scripts: a script without flags runs under OOM (only
/// the commands inside it that would allocate are refused, and PTTL, GET, DBSIZE and FLUSHDB
/// are not), and it stays atomic. Keys travel as KEYS, never inside the script text.
inline constexpr std::string_view kReadWithTtlScript =
    "local v = redis.call('GET', KEYS[1]) if not v then return nil end "
    "return {redis.call('PTTL', KEYS[1]), v}";
inline constexpr std::string_view kFlushScript =
    "local n = redis.call('DBSIZE') redis.call('FLUSHDB') return n";

struct Credentials {
  std::string username;  ///< ACL user; empty for the default user
  std::string password;  ///< empty: no authentication
  std::int64_t db = 0;
};

class RespProtocol : public net::Protocol {
 public:
  RespProtocol(std::shared_ptr<const Credentials> credentials,
               std::shared_ptr<net::HitCounters> counters);

  void reset() override;
  std::span<const net::Request> handshake(std::string& out) override;
  std::span<char> prepare(std::size_t min_size) override { return parser_.prepare(min_size); }
  void commit(std::size_t n) override { parser_.commit(n); }
  net::ReadStatus read_reply(std::uint16_t op, std::uint16_t index, net::Result& result) override;
  std::string fatal_message() const override {
    return "malformed reply: " + parser_.error_message();
  }

  /// True once the server refused HELLO: later handshakes use AUTH (RESP2).
  bool resp2() const { return resp2_; }

 protected:
  /// Folds one reply of a request with opcode `op` into `result`. The cluster protocol
  /// (cluster_protocol.hpp) extends it with its own opcodes.
  virtual void decode(std::uint16_t op, std::uint16_t index, std::span<const resp::Node> reply,
                      net::Result& result);

 private:
  std::shared_ptr<const Credentials> credentials_;
  std::shared_ptr<net::HitCounters> counters_;
  resp::Parser parser_;
  std::vector<net::Request> handshake_;
  bool resp2_ = false;
};

/// Error class of a server error reply: auth for WRONGPASS/NOAUTH/NOPERM, store_full for OOM
/// (the server is at maxmemory and refuses writes), else protocol.
Errc classify_error(std::string_view message);

/// `text` with the glob characters of SCAN MATCH (* ? [ ] \) escaped by a backslash.
std::string escape_glob(std::string_view text);

}  // namespace cachette::redis
