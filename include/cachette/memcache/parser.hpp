#pragma once
/// Sans-I/O reply parser for memcached's meta protocol and the classic text replies the encoder's
/// commands produce (encoder.hpp). It takes bytes in and hands complete replies out; nothing here
/// touches a socket, so it is unit-tested and fuzzed alone.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cachette::memcache {

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
