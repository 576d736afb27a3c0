#pragma once
/// Sans-I/O encoder for memcached's meta protocol (mg, ms, md, ma, mn) plus the classic text
/// commands the meta protocol has no replacement for: flush_all, version, lru_crawler metadump,
/// and the `set`-shaped login of memcached's `-Y authfile` mode. Replies are read by parser.hpp.
///
/// Nothing here touches a socket: encoders append bytes to a caller-owned buffer, so they are
/// unit-tested and fuzzed alone.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cachette::memcache {

/// Longest key token memcached accepts (for base64 keys: the encoded length).
inline constexpr std::size_t kMaxKeyToken = 250;
/// Longest opaque token memcached 1.6 accepts ("opaque token too long" from 32 bytes on).
inline constexpr std::size_t kMaxOpaque = 31;
/// memcached reads a TTL above 30 days as an absolute Unix time; we only ever send relative TTLs.
inline constexpr std::uint32_t kMaxRelativeTtl = 60 * 60 * 24 * 30;

/// A key as it goes on the wire: either a plain token or the base64 form of binary bytes
/// (sent with the `b` flag). keys.hpp produces these from arbitrary user keys.
struct WireKey {
  std::string_view token{};
  bool base64 = false;
};

/// `mg`: fetch an item. Flags are emitted in a fixed order (b v t k c q O); the server echoes
/// return flags in request order, which the parser does not rely on.
struct GetRequest {
  WireKey key{};
  bool value = true;          ///< v: send the data block (reply VA instead of HD)
  bool ttl = false;           ///< t: return remaining TTL (-1 = never expires)
  bool return_key = false;    ///< k: echo the key
  bool cas = false;           ///< c: return the item's CAS value
  bool quiet = false;         ///< q: suppress the EN reply on a miss (pipelines end with mn)
  std::string_view opaque{};  ///< O: echoed back to match pipelined replies; empty = none
};

/// `ms`: store an item (set mode, or add mode: only when the key is absent, NS otherwise).
struct SetRequest {
  WireKey key{};
  std::string_view value{};
  std::uint32_t ttl = 0;  ///< T: seconds, 0 = never expires, at most kMaxRelativeTtl
  bool add = false;       ///< ME: add mode
  bool quiet = false;     ///< q: suppress HD on success; failures are still reported
  std::string_view opaque{};
};

/// `md`: delete an item (only while its CAS equals `compare_cas` when set: EX otherwise).
struct DeleteRequest {
  WireKey key{};
  std::optional<std::uint64_t> compare_cas{};  ///< C
  bool quiet = false;
  std::string_view opaque{};
};

/// `ma`: increment or decrement an unsigned 64-bit counter.
struct ArithmeticRequest {
  WireKey key{};
  std::uint64_t delta = 1;
  bool decrement = false;
  /// N: create the item on a miss with this TTL (and initial value J); nullopt = NF on a miss.
  std::optional<std::uint32_t> create_ttl{};
  std::uint64_t initial = 0;
  bool return_value = true;  ///< v: reply VA with the new value as decimal text
  bool quiet = false;
  std::string_view opaque{};
};

/// Which items `lru_crawler metadump` walks. `hash` walks the hash table, so items that move
/// between LRUs during the dump are still seen once; `all` walks the LRUs (older servers).
enum class MetadumpScope { hash, all };

// Encoders append one complete request to `out` and return true, or return false and leave `out`
// untouched when a token cannot be sent as given (empty/oversized key, space or control byte,
// invalid base64, oversized opaque, TTL out of range, credentials with spaces).
[[nodiscard]] bool encode_get(std::string& out, const GetRequest& request);
[[nodiscard]] bool encode_set(std::string& out, const SetRequest& request);
[[nodiscard]] bool encode_delete(std::string& out, const DeleteRequest& request);
[[nodiscard]] bool encode_arithmetic(std::string& out, const ArithmeticRequest& request);
void encode_noop(std::string& out);
void encode_flush_all(std::string& out);
void encode_version(std::string& out);
/// Starts a key dump. memcached hands the connection to its crawler until END: a command that
/// arrives in the same read before it gets "ERROR cannot pipeline ...", and commands behind it
/// are only answered after END. Send it alone on a connection of its own.
void encode_metadump(std::string& out, MetadumpScope scope = MetadumpScope::hash);
/// Tokens added after "username password" in the login's data block (see encode_auth).
inline constexpr int kLoginPadding = 30;
/// Login for `-Y authfile` servers, safe to send to any server: a `set` whose data is
/// "username password" (plus padding tokens), then `mn`. A -Y server answers STORED (or
/// CLIENT_ERROR) then MN; a server without -Y refuses the set (its key is over the length
/// limit), answers the data line as a refused command, then MN, and stores nothing.
/// Must be the first command on the connection.
[[nodiscard]] bool encode_auth(std::string& out, std::string_view username,
                               std::string_view password);

}  // namespace cachette::memcache
