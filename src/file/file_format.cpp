#include "cachette/detail/file_format.hpp"

#include <openssl/evp.h>

#include <cstring>
#include <ctime>

#include "cachette/error.hpp"

namespace cachette::file {

std::string stored_key(std::string_view key) {
  if (!key.empty() && key.size() <= kDirectKeyMax) return std::string(key);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  if (EVP_Digest(key.data(), key.size(), digest, &digest_size, EVP_sha256(), nullptr) != 1 ||
      digest_size != kKeyHashSize) {
    throw Error(Errc::storage, "file store: cannot hash a long key (SHA-256 unavailable)");
  }
  // LMDB has no empty keys: the empty key takes the hashed form of a key of kDirectKeyMax
  // NUL bytes, which no other key can have (its record's full key, "", tells them apart).
  std::string out =
      key.empty() ? std::string(kDirectKeyMax, '\0') : std::string(key.substr(0, kDirectKeyMax));
  out.append(reinterpret_cast<const char*>(digest), kKeyHashSize);
  return out;
}

void write_record(char* out, std::string_view key, std::string_view value, std::int64_t expires_ms,
                  std::int64_t written_ms) {
  const bool hashed = key.size() > kDirectKeyMax;
  RecordHeader header{kRecordMagic, hashed ? static_cast<std::uint32_t>(key.size()) : 0u,
                      expires_ms, written_ms};
  std::memcpy(out, &header, kHeaderSize);
  out += kHeaderSize;
  if (hashed) {
    std::memcpy(out, key.data(), key.size());
    out += key.size();
  }
  if (!value.empty()) std::memcpy(out, value.data(), value.size());
}

std::optional<Record> read_record(std::string_view bytes) {
  if (bytes.size() < kHeaderSize) return std::nullopt;
  RecordHeader header;
  std::memcpy(&header, bytes.data(), kHeaderSize);
  if (header.magic != kRecordMagic || header.key_size > bytes.size() - kHeaderSize) {
    return std::nullopt;
  }
  Record r;
  r.expires_ms = header.expires_ms;
  r.written_ms = header.written_ms;
  r.full_key = bytes.substr(kHeaderSize, header.key_size);
  r.value = bytes.substr(kHeaderSize + header.key_size);
  return r;
}

bool record_matches(std::string_view stored, const Record& record, std::string_view key) {
  if (is_hashed(stored)) return record.full_key == key;
  return record.full_key.empty();
}

std::string expiry_key(std::int64_t expires_ms, std::string_view stored) {
  std::string out(8 + stored.size(), '\0');
  auto v = static_cast<std::uint64_t>(expires_ms);
  for (int i = 7; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  std::memcpy(out.data() + 8, stored.data(), stored.size());
  return out;
}

std::optional<std::pair<std::int64_t, std::string_view>> split_expiry_key(std::string_view key) {
  if (key.size() <= 8) return std::nullopt;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(key[i]);
  return std::pair{static_cast<std::int64_t>(v), key.substr(8)};
}

std::int64_t realtime_ms() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace cachette::file
