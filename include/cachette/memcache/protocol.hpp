#pragma once
/// Sans-I/O encoder and reply parser for memcached's meta protocol (mg, ms, md, ma, mn) plus the
/// classic text commands the meta protocol has no replacement for: flush_all, version,
/// lru_crawler metadump, and the `set`-shaped login of memcached's `-Y authfile` mode.
///
/// Nothing here touches a socket: encoders append bytes to a caller-owned buffer, and the parser
/// takes bytes in and hands complete replies out, so both are unit-tested and fuzzed alone.

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

/// `mg`: fetch an item. Flags are emitted in a fixed order (b v t k q O); the server echoes return
/// flags in request order, which the parser does not rely on.
struct GetRequest {
  WireKey key{};
  bool value = true;          ///< v: send the data block (reply VA instead of HD)
  bool ttl = false;           ///< t: return remaining TTL (-1 = never expires)
  bool return_key = false;    ///< k: echo the key
  bool quiet = false;         ///< q: suppress the EN reply on a miss (pipelines end with mn)
  std::string_view opaque{};  ///< O: echoed back to match pipelined replies; empty = none
};

/// `ms`: store an item (set mode).
struct SetRequest {
  WireKey key{};
  std::string_view value{};
  std::uint32_t ttl = 0;  ///< T: seconds, 0 = never expires, at most kMaxRelativeTtl
  bool quiet = false;     ///< q: suppress HD on success; failures are still reported
  std::string_view opaque{};
};

/// `md`: delete an item.
struct DeleteRequest {
  WireKey key{};
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
/// Login for `-Y authfile` servers: a `set` of any key whose data is "username password". Must be
/// the first command on the connection; the reply is STORED, or CLIENT_ERROR and a closed socket.
[[nodiscard]] bool encode_auth(std::string& out, std::string_view username,
                               std::string_view password);

enum class ReplyKind : std::uint8_t {
  header,          ///< HD: success without a value (stored, deleted, hit without v)
  value,           ///< VA <size>: hit with a data block (mg v, ma v)
  miss,            ///< EN
  not_found,       ///< NF
  not_stored,      ///< NS
  exists,          ///< EX
  noop,            ///< MN
  ok,              ///< OK (flush_all)
  end,             ///< END (closes a metadump)
  stored,          ///< STORED (authentication accepted)
  version,         ///< VERSION <text>
  metadump_entry,  ///< one "key=... exp=..." line of a metadump
  error,           ///< ERROR [text]: unknown command, or a refused metadump
  client_error,    ///< CLIENT_ERROR <text>
  server_error,    ///< SERVER_ERROR <text>
  busy,            ///< BUSY <text>: the LRU crawler is already running
  bad_class,       ///< BADCLASS <text>
  not_started,     ///< NOTSTARTED <text>
};

const char* to_string(ReplyKind kind) noexcept;

/// Return flags of a meta reply. Views point into the parser's buffer (see Parser::next).
struct ReturnFlags {
  std::optional<std::int64_t> ttl;            ///< t: remaining seconds, -1 = never expires
  std::optional<std::uint64_t> cas;           ///< c
  std::optional<std::uint32_t> client_flags;  ///< f
  std::optional<std::uint64_t> size;          ///< s
  std::optional<std::string_view> key;        ///< k: base64 when `base64_key`
  std::optional<std::string_view> opaque;     ///< O
  bool base64_key = false;                    ///< b
  bool won = false;                           ///< W
  bool stale = false;                         ///< X
  bool win_sent = false;                      ///< Z
};

/// One metadump line. `key` is the stored key bytes URI-encoded (%XX), exactly as the server
/// printed it; decode with uri_decode(). Binary keys are printed as their raw bytes, not base64.
struct MetadumpEntry {
  std::string_view key;
  std::int64_t expires_at = -1;   ///< exp: Unix time, -1 = never
  std::uint64_t last_access = 0;  ///< la: Unix time
  std::uint64_t cas = 0;
  bool fetched = false;
  std::uint32_t slab_class = 0;
  std::uint64_t size = 0;  ///< total item size in the slab, not the value length
};

struct Reply {
  ReplyKind kind = ReplyKind::header;
  ReturnFlags flags;      ///< meta replies (HD VA EN NF NS EX)
  std::string_view data;  ///< VA data block
  std::string_view text;  ///< VERSION string, or the message of an error line
  MetadumpEntry entry;    ///< metadump_entry
};

enum class ParseStatus : std::uint8_t { reply, need_more, error };

enum class ParseError : std::uint8_t {
  none,
  line_too_long,    ///< no line end within ParserLimits::max_line
  bad_line_end,     ///< a reply line ended in a bare \n
  unknown_reply,    ///< a line that is no reply memcached sends
  bad_number,       ///< a size or numeric flag that is not a decimal in range
  bad_flag,         ///< a malformed return flag token
  value_too_large,  ///< VA size above ParserLimits::max_value
  bad_data_end,     ///< a data block not followed by \r\n
  bad_metadump,     ///< a metadump line without a key or with malformed fields
};

const char* to_string(ParseError error) noexcept;

struct ParserLimits {
  std::size_t max_line = 4096;          ///< longest reply line (a metadump line is < 1 KiB)
  std::size_t max_value = 1024 * 1024;  ///< largest VA data block accepted (memcached's -I)
};

/// Incremental reply parser. Feed bytes as they arrive, then call next() until it stops returning
/// ParseStatus::reply. Replies split at any byte boundary parse the same as whole ones.
///
/// Bytes are buffered in one growing string (amortised, no per-byte allocation); a VA block is
/// only buffered after its declared size has been checked against the limit. After an error the
/// parser stays failed: the stream position is lost, so the connection must be dropped.
class Parser {
 public:
  explicit Parser(ParserLimits limits = {}) : limits_(limits) {}

  void feed(std::string_view bytes);

  /// On ParseStatus::reply fills `out`. Views in `out` stay valid until the next feed() or next().
  ParseStatus next(Reply& out);

  ParseError error() const noexcept { return error_; }
  /// Total bytes passed to feed(), and bytes that belonged to replies already returned.
  std::uint64_t bytes_fed() const noexcept { return fed_; }
  std::uint64_t bytes_consumed() const noexcept { return consumed_; }
  /// Bytes received but not yet part of a returned reply.
  std::size_t buffered() const noexcept { return buffer_.size() - read_; }
  /// Forget everything buffered and any error (after reconnecting).
  void reset();

 private:
  ParseStatus fail(ParseError error);

  ParserLimits limits_;
  std::string buffer_;
  std::size_t read_ = 0;     // start of the first unreturned reply in buffer_
  std::size_t scanned_ = 0;  // bytes after read_ already searched for a line end
  std::size_t need_ = 0;     // bytes after read_ the current reply needs (0 = unknown)
  std::uint64_t fed_ = 0;
  std::uint64_t consumed_ = 0;
  ParseError error_ = ParseError::none;
};

/// Decodes metadump's %XX escapes into `out` (replacing its contents). False on a malformed
/// escape; the parser has already rejected those in MetadumpEntry::key.
bool uri_decode(std::string_view encoded, std::string& out);

}  // namespace cachette::memcache
