#pragma once
/// Maps arbitrary byte-string cache keys onto keys memcached accepts.
///
/// The rule (stable: changing it orphans every stored item):
///
/// 1. A key of 1..250 bytes, all printable ASCII (0x21..0x7E), not starting with the marker "~#",
///    is stored as itself and sent as a plain token.
/// 2. Any other key of 1..186 bytes not starting with "~#" is stored as itself, and sent
///    base64-encoded with the meta `b` flag (186 bytes is the most whose padded base64 fits in
///    memcached's 250-byte token limit).
/// 3. Every remaining key (empty, too long for its form, or starting with "~#") is stored as
///        "~#" + first min(size, 120) bytes of the key + lowercase hex SHA-256 of the whole key
///    (at most 186 bytes), sent as a plain token if that is printable ASCII, else as base64.
///
/// Why it cannot collide: rules 1 and 2 store a key's own bytes, so they are injective, and their
/// stored keys never start with "~#"; every rule 3 key does, and differs from every other rule 3
/// key unless SHA-256 collides. memcached identifies items by stored bytes only (`b` does not
/// open a separate key space), which is why the marker matters for rule 2 keys as well.
///
/// Why rule 3 keeps a prefix: clear(namespace=) enumerates stored keys and matches them by
/// prefix. Stored keys of rules 1 and 2 are the user keys themselves; a rule 3 key still shows its
/// first 120 bytes, enough for any namespace shorter than that (see docs/memcached-namespaces.md).

#include <cstddef>
#include <string>
#include <string_view>

#include "cachette/memcache/encoder.hpp"

namespace cachette::memcache {

inline constexpr std::string_view kHashedKeyMarker = "~#";
/// Longest user-key prefix kept in a hashed (rule 3) stored key.
inline constexpr std::size_t kHashedKeyPrefix = 120;
/// Longest stored key that is sent base64-encoded.
inline constexpr std::size_t kMaxBase64KeyBytes = 186;

enum class KeyForm { plain, base64, hashed };

/// Which rule of the mapping applies to a user key.
KeyForm key_form(std::string_view key) noexcept;

/// The bytes memcached stores for `key` (rules above), written into `out`.
void stored_key(std::string_view key, std::string& out);

/// A wire token for stored key bytes: the bytes themselves when printable, else their base64.
/// Stored keys found by a metadump are addressed (e.g. for md) through this too.
class MappedKey {
 public:
  MappedKey() = default;
  /// Maps a user key (stored_key, then the wire form).
  explicit MappedKey(std::string_view key) { assign(key); }
  void assign(std::string_view key);
  /// Takes stored bytes as they are, e.g. a key decoded from a metadump line.
  void assign_stored(std::string_view stored);

  WireKey wire() const noexcept { return {token_, base64_}; }
  std::string_view stored() const noexcept { return stored_; }

 private:
  std::string stored_;
  std::string token_;
  bool base64_ = false;
};

enum class PrefixMatch { no, yes, unknown };

/// Whether the user key behind `stored` (stored bytes, e.g. uri_decode()d from a metadump) starts
/// with `prefix`. `unknown` only for a hashed key whose kept 120 bytes agree with a longer prefix.
/// Stored keys that this mapping cannot have produced (a "~#" key of the wrong shape) are `no`.
PrefixMatch stored_key_has_prefix(std::string_view stored, std::string_view prefix) noexcept;

/// Standard padded base64 (the alphabet memcached's `b` flag decodes), appended to `out`.
void base64_encode(std::string_view bytes, std::string& out);

}  // namespace cachette::memcache
