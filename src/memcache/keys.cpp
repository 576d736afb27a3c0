#include "cachette/memcache/keys.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>

namespace cachette::memcache {
namespace {

constexpr std::size_t kDigestHex = 64;

bool printable(std::string_view bytes) noexcept {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f;
  });
}

bool is_lower_hex(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

void append_sha256_hex(std::string_view bytes, std::string& out) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  // EVP_Digest only fails on allocation failure inside OpenSSL; a zero digest would still be a
  // deterministic key, but we never want silent collisions, so treat it as fatal.
  if (EVP_Digest(bytes.data(), bytes.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1 ||
      length * 2 != kDigestHex) {
    std::abort();
  }
  constexpr char kHex[] = "0123456789abcdef";
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0x0f];
  }
}

}  // namespace

KeyForm key_form(std::string_view key) noexcept {
  if (key.empty() || key.starts_with(kHashedKeyMarker)) return KeyForm::hashed;
  if (key.size() <= kMaxKeyToken && printable(key)) return KeyForm::plain;
  if (key.size() <= kMaxBase64KeyBytes) return KeyForm::base64;
  return KeyForm::hashed;
}

void stored_key(std::string_view key, std::string& out) {
  out.clear();
  if (key_form(key) != KeyForm::hashed) {
    out.assign(key);
    return;
  }
  out.reserve(kHashedKeyMarker.size() + kHashedKeyPrefix + kDigestHex);
  out += kHashedKeyMarker;
  out += key.substr(0, kHashedKeyPrefix);
  append_sha256_hex(key, out);
}

void MappedKey::assign(std::string_view key) {
  stored_key(key, stored_);
  assign_stored(std::string_view(stored_));
}

void MappedKey::assign_stored(std::string_view stored) {
  // `stored` may alias stored_ (from assign), so fill the token before touching stored_.
  token_.clear();
  base64_ = !printable(stored);
  if (base64_) {
    base64_encode(stored, token_);
  } else {
    token_.assign(stored);
  }
  if (stored.data() != stored_.data()) stored_.assign(stored);
}

PrefixMatch stored_key_has_prefix(std::string_view stored, std::string_view prefix) noexcept {
  if (!stored.starts_with(kHashedKeyMarker)) {
    return stored.starts_with(prefix) ? PrefixMatch::yes : PrefixMatch::no;
  }
  const std::size_t min_size = kHashedKeyMarker.size() + kDigestHex;
  if (stored.size() < min_size || stored.size() > min_size + kHashedKeyPrefix ||
      !std::all_of(stored.end() - kDigestHex, stored.end(), is_lower_hex)) {
    return PrefixMatch::no;
  }
  const std::string_view kept = stored.substr(kHashedKeyMarker.size(), stored.size() - min_size);
  if (kept.size() < kHashedKeyPrefix || prefix.size() <= kept.size()) {
    // Either `kept` is the whole user key, or it is long enough to decide.
    return kept.starts_with(prefix) ? PrefixMatch::yes : PrefixMatch::no;
  }
  return prefix.starts_with(kept) ? PrefixMatch::unknown : PrefixMatch::no;
}

void base64_encode(std::string_view bytes, std::string& out) {
  constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  out.reserve(out.size() + (bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16 |
                            static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1]))
                                << 8 |
                            static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  const std::size_t left = bytes.size() - i;
  if (left == 0) return;
  std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
  if (left == 2) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
  out += kAlphabet[n >> 18];
  out += kAlphabet[(n >> 12) & 63];
  out += left == 2 ? kAlphabet[(n >> 6) & 63] : '=';
  out += '=';
}

}  // namespace cachette::memcache
