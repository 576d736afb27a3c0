#include "cachette/mongo/detail/documents.hpp"

#include <mongoc/mongoc.h>

#include <chrono>
#include <cstring>

namespace cachette::mongo::detail {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string prefix_regex(std::string_view prefix) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(prefix.size() * 2 + 1);
  out.push_back('^');
  for (const char c : prefix) {
    const auto u = static_cast<unsigned char>(c);
    const bool plain = (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') ||
                       u == '_' || u >= 0x80;
    if (plain) {
      out.push_back(c);
    } else if (u < 0x20 || u == 0x7f) {
      // Control characters (NUL above all, which a BSON regex cannot hold) as \xHH.
      out += "\\x";
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    } else {
      // In PCRE a backslash before any other ASCII punctuation or space means the character
      // itself, and MongoDB still reads such a pattern as a plain prefix for its index bounds.
      out.push_back('\\');
      out.push_back(c);
    }
  }
  return out;
}

bool append_key(bson_t* doc, const char* field, std::string_view key) {
  return bson_append_utf8(doc, field, -1, key.data(), static_cast<int>(key.size()));
}

Bson entry_document(std::string_view key, std::string_view value, std::int64_t ttl_ms,
                    std::int64_t now) {
  Bson doc = make_bson();
  append_key(doc.get(), "_id", key);
  bson_append_binary(doc.get(), "value", -1, BSON_SUBTYPE_BINARY,
                     reinterpret_cast<const std::uint8_t*>(value.data()),
                     static_cast<std::uint32_t>(value.size()));
  if (ttl_ms > 0) bson_append_date_time(doc.get(), "expires", -1, now + ttl_ms);
  return doc;
}

void append_live(bson_t* filter, std::int64_t now) {
  bson_t expires;
  bson_t negated;
  bson_append_document_begin(filter, "expires", -1, &expires);
  bson_append_document_begin(&expires, "$not", -1, &negated);
  bson_append_date_time(&negated, "$lte", -1, now);
  bson_append_document_end(&expires, &negated);
  bson_append_document_end(filter, &expires);
}

std::optional<Entry> read_entry(const bson_t* doc, std::int64_t now) {
  bson_iter_t it;
  Entry entry;
  if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_UTF8(&it)) return std::nullopt;
  std::uint32_t length = 0;
  const char* text = bson_iter_utf8(&it, &length);
  entry.key.assign(text, length);
  if (!bson_iter_init_find(&it, doc, "value") || !BSON_ITER_HOLDS_BINARY(&it)) {
    return std::nullopt;
  }
  bson_subtype_t subtype;
  const std::uint8_t* data = nullptr;
  bson_iter_binary(&it, &subtype, &length, &data);
  entry.value.assign(reinterpret_cast<const char*>(data), length);
  if (bson_iter_init_find(&it, doc, "expires") && BSON_ITER_HOLDS_DATE_TIME(&it)) {
    entry.expires_ms = bson_iter_date_time(&it);
    if (entry.expires_ms <= now) return std::nullopt;
  }
  return entry;
}

namespace {

bool contains(const char* text, const char* needle) {
  return std::strstr(text, needle) != nullptr;
}

}  // namespace

Errc classify(const bson_error_t& error) {
  // Server error codes: 18 AuthenticationFailed, 13 Unauthorized, 10334 BSONObjectTooLarge,
  // 50 MaxTimeMSExpired.
  switch (error.code) {
    case 18:
    case 13: return Errc::auth;
    case 10334: return Errc::value_too_large;
    case 50: return Errc::timeout;
    default: break;
  }
  if (error.domain == MONGOC_ERROR_CLIENT && error.code == MONGOC_ERROR_CLIENT_AUTHENTICATE) {
    return Errc::auth;
  }
  if (error.domain == MONGOC_ERROR_SERVER_SELECTION || error.domain == MONGOC_ERROR_STREAM) {
    if (contains(error.message, "uthenticat")) return Errc::auth;
    if (contains(error.message, "refused") || contains(error.message, "resolve") ||
        contains(error.message, "Failed to connect")) {
      return Errc::connection;
    }
    if (contains(error.message, "timed out") || contains(error.message, "timeout")) {
      return Errc::timeout;
    }
    return Errc::connection;
  }
  return Errc::protocol;
}

std::int64_t reply_count(const bson_t* reply, const char* field) {
  bson_iter_t it;
  if (reply == nullptr || !bson_iter_init_find(&it, reply, field)) return 0;
  return bson_iter_as_int64(&it);
}

}  // namespace cachette::mongo::detail
