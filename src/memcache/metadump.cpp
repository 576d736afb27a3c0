#include "cachette/memcache/metadump.hpp"

#include "cachette/memcache/keys.hpp"

namespace cachette::memcache {

PrefixScan::Step PrefixScan::on_reply(const Reply& reply) {
  switch (reply.kind) {
    case ReplyKind::metadump_entry:
      ++scanned_;
      // The parser only accepts well-formed escapes, so decoding cannot fail here.
      if (!uri_decode(reply.entry.key, decoded_)) return Step::more;
      switch (stored_key_has_prefix(decoded_, prefix_)) {
        case PrefixMatch::yes: matches_.push_back(decoded_); break;
        case PrefixMatch::unknown: undecided_.push_back(decoded_); break;
        case PrefixMatch::no: break;
      }
      return Step::more;
    case ReplyKind::end: return Step::done;
    case ReplyKind::busy: return Step::busy;
    default:
      // ERROR (pipelined or unknown command), CLIENT_ERROR (crawler disabled, unauthenticated),
      // BADCLASS, NOTSTARTED, or a reply that belongs to no dump at all.
      text_.assign(reply.text.empty() ? to_string(reply.kind) : reply.text);
      return Step::refused;
  }
}

}  // namespace cachette::memcache
