#pragma once
/// The dump half of clear(namespace=) on memcached (see docs/memcached-namespaces.md): feed it the
/// replies read from a connection that sent encode_metadump(), and it collects the stored keys
/// whose user key starts with a prefix. Deleting them (md, counting HD replies) is the caller's
/// next step; this class does no I/O.

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "cachette/memcache/parser.hpp"

namespace cachette::memcache {

class PrefixScan {
 public:
  enum class Step {
    more,     ///< keep reading replies
    done,     ///< END: matches() is complete
    busy,     ///< the crawler is running for someone else: retry the dump later
    refused,  ///< the server refused the dump (crawler disabled, unauthenticated, ...): text()
  };

  /// `prefix` is matched against user keys, e.g. "user:" for clear(namespace="user").
  explicit PrefixScan(std::string prefix) : prefix_(std::move(prefix)) {}

  Step on_reply(const Reply& reply);

  /// Stored keys (decoded bytes, ready for MappedKey::assign_stored) whose user key has the prefix.
  const std::vector<std::string>& matches() const noexcept { return matches_; }
  /// Hashed stored keys that keep too little of their user key to decide (prefix over 120
  /// bytes); the caller settles them another way or leaves them.
  const std::vector<std::string>& undecided() const noexcept { return undecided_; }
  /// Entries seen, matching or not.
  std::size_t scanned() const noexcept { return scanned_; }
  /// The server's message when on_reply returned refused.
  const std::string& text() const noexcept { return text_; }

 private:
  std::string prefix_;
  std::string decoded_;
  std::vector<std::string> matches_;
  std::vector<std::string> undecided_;
  std::size_t scanned_ = 0;
  std::string text_;
};

}  // namespace cachette::memcache
