#pragma once
// Private (detail): the BSON of our documents and filters, error classification, and the
// regular expression of a prefix. Everything here is pure (no I/O), so unit tests cover it.

#include <bson/bson.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "cachette/error.hpp"

namespace cachette::mongo::detail {

/// MongoDB refuses documents over 16 MiB; a little room is kept for `_id`, the field names
/// and `expires`.
inline constexpr std::size_t kMaxDocumentBytes = 16 * 1024 * 1024;
inline constexpr std::size_t kDocumentOverhead = 64;

/// The name of the TTL index this client creates on `expires`.
inline constexpr const char* kTtlIndexName = "cachette_expires_ttl";

/// An owned, heap-allocated BSON document (bson_t itself is over-aligned and holds inline
/// storage, so it is neither moved nor put in a unique_ptr).
class Bson {
 public:
  Bson() : doc_(bson_new()) {}
  ~Bson() {
    if (doc_ != nullptr) bson_destroy(doc_);
  }
  Bson(Bson&& other) noexcept : doc_(std::exchange(other.doc_, nullptr)) {}
  Bson& operator=(Bson&&) = delete;
  Bson(const Bson&) = delete;
  Bson& operator=(const Bson&) = delete;

  bson_t* get() const { return doc_; }

 private:
  bson_t* doc_;
};

inline Bson make_bson() {
  return Bson();
}

/// Milliseconds since the Unix epoch (the unit of a BSON date).
std::int64_t now_ms();

/// `^` followed by `prefix` with every regular-expression character escaped, so the pattern
/// matches exactly the strings that start with `prefix` and MongoDB can bound it on the index.
std::string prefix_regex(std::string_view prefix);

/// {_id: key, value: BinData(value), expires: Date(now + ttl)}; no `expires` when ttl_ms <= 0.
Bson entry_document(std::string_view key, std::string_view value, std::int64_t ttl_ms,
                    std::int64_t now);

/// Appends `{expires: {$not: {$lte: now}}}` to `filter`: the entry is live (never expires, or
/// expires later).
void append_live(bson_t* filter, std::int64_t now);

/// Appends a UTF-8 string; keys are arbitrary bytes, which BSON strings may not hold when they
/// contain NUL. Returns false for such a key.
bool append_key(bson_t* doc, const char* field, std::string_view key);

/// What a document read back holds. `expires_ms` is -1 when it never expires.
struct Entry {
  std::string key;
  std::string value;
  std::int64_t expires_ms = -1;
};

/// Reads one of our documents; nullopt for anything else (a 0.1.x document, a foreign one)
/// or for an entry that is expired at `now`.
std::optional<Entry> read_entry(const bson_t* doc, std::int64_t now);

/// The engine error code of a libmongoc error.
Errc classify(const bson_error_t& error);

/// The count a write reply reports under `field` ("deletedCount", "upsertedCount", ...).
std::int64_t reply_count(const bson_t* reply, const char* field);

}  // namespace cachette::mongo::detail
