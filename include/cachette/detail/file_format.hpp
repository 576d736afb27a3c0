#pragma once
// On-disk layout of the file store (private to src/file). Described for users in
// docs/file-backend.md; changing anything here needs a new kFormatVersion.
//
//   "entries" database   stored key  -> record
//   "expiry"  database   be64(expires_ms) || stored key -> empty   (ordered by expiry)
//   "meta"    database   "format" -> kFormatVersion, "bytes" -> bytes charged now

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace cachette::file {

inline constexpr std::uint32_t kFormatVersion = 1;
/// Keys up to this many bytes are stored as they are. Longer keys are stored as their
/// first kDirectKeyMax bytes followed by a SHA-256 of the whole key, so that stored keys
/// stay under LMDB's 511-byte limit (with the 8-byte expiry prefix of the index) and keep
/// their order: a prefix scan still reaches every long key that starts with the prefix.
inline constexpr std::size_t kDirectKeyMax = 448;
inline constexpr std::size_t kKeyHashSize = 32;
/// expires_ms of entries that never expire: they sort after every other entry.
inline constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
/// Values larger than this are refused with value_too_large.
inline constexpr std::uint64_t kMaxValueSize = 512ull << 20;

/// Record = header, then the full key when the stored key is hashed, then the value.
struct RecordHeader {
  std::uint32_t magic;      ///< kRecordMagic
  std::uint32_t key_size;   ///< bytes of full key after the header; 0 for direct keys
  std::int64_t expires_ms;  ///< CLOCK_REALTIME milliseconds, or kNever
  std::int64_t written_ms;  ///< CLOCK_REALTIME milliseconds at the put
};
inline constexpr std::uint32_t kRecordMagic = 0x31534643;  // "CFS1" little-endian
inline constexpr std::size_t kHeaderSize = sizeof(RecordHeader);
static_assert(kHeaderSize == 24);

struct Record {
  std::int64_t expires_ms = 0;
  std::int64_t written_ms = 0;
  std::string_view full_key;  ///< empty for direct keys (the stored key is the key)
  std::string_view value;
};

/// The key under which `key` is stored in "entries" (the empty key takes a hashed form).
std::string stored_key(std::string_view key);
inline bool is_hashed(std::string_view stored) {
  return stored.size() > kDirectKeyMax;
}

inline std::size_t record_size(std::string_view key, std::string_view value) {
  return kHeaderSize + (key.size() > kDirectKeyMax ? key.size() : 0) + value.size();
}
/// Writes a record for (key, value) into `out` (record_size bytes).
void write_record(char* out, std::string_view key, std::string_view value, std::int64_t expires_ms,
                  std::int64_t written_ms);
/// Parses a record; nullopt when it is not one of ours (never trusted blindly).
std::optional<Record> read_record(std::string_view bytes);
/// True when the record belongs to `key` (compares the full key of hashed keys).
bool record_matches(std::string_view stored, const Record& record, std::string_view key);

/// Bytes charged against max_size for one entry: both database keys, the record, and a
/// fixed allowance for LMDB's node headers.
inline std::uint64_t entry_charge(std::size_t stored_size, std::size_t record_bytes) {
  return 2 * stored_size + record_bytes + 8 + 32;
}

/// be64(expires_ms) || stored, the key of the "expiry" database.
std::string expiry_key(std::int64_t expires_ms, std::string_view stored);
/// Splits an "expiry" key; nullopt when malformed.
std::optional<std::pair<std::int64_t, std::string_view>> split_expiry_key(std::string_view key);

/// Wall-clock milliseconds since the epoch (shared by every process on the host).
std::int64_t realtime_ms() noexcept;

}  // namespace cachette::file
