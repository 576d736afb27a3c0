#pragma once
/// Sans-I/O RESP2/RESP3 reply parser.
///
/// The parser owns a receive buffer. Bytes go in through prepare()/commit() (so a socket can read
/// straight into it) or feed(); replies come out of next() one at a time. It never performs I/O,
/// copes with any split of the input, keeps its state between calls (a reply arriving in a
/// thousand pieces is scanned once), and enforces limits so that hostile input cannot make it
/// allocate without bound. After an error the stream is out of sync: drop the connection.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cachette::resp {

enum class Type : std::uint8_t {
  simple_string,  ///< +OK
  error,          ///< -ERR message (text is the whole message)
  integer,        ///< :42
  bulk_string,    ///< $3 abc
  bulk_error,     ///< !5 ERROR (RESP3)
  verbatim,       ///< =7 txt:abc (RESP3; text excludes the 4-byte format prefix)
  null,           ///< _ (RESP3), $-1 and *-1 (RESP2)
  boolean,        ///< #t / #f; integer is 1 or 0
  double_number,  ///< ,3.14 (text kept as sent)
  big_number,     ///< (1234... (text kept as sent)
  array,          ///< *n
  map,            ///< %n: size is the number of pairs; 2*size child elements follow
  set,            ///< ~n
  push,           ///< >n out-of-band data (RESP3); never the reply to a command
};

/// One value of a reply tree, stored in pre-order: an aggregate is followed by its elements.
struct Node {
  Type type = Type::null;
  std::uint32_t size = 0;  ///< element count for aggregates (pairs for maps); text length otherwise
  std::int64_t integer = 0;  ///< value of integer and boolean nodes
  std::string_view text;     ///< payload of string-like nodes; empty for aggregates

  /// A simple or bulk error reply.
  bool is_error() const { return type == Type::error || type == Type::bulk_error; }
  /// A string-like node whose `text` is the payload (simple, bulk or verbatim string).
  bool is_text() const {
    return type == Type::bulk_string || type == Type::simple_string || type == Type::verbatim;
  }
};

enum class Status : std::uint8_t {
  complete,   ///< a whole reply is available through reply()
  need_more,  ///< feed more bytes and call next() again
  error,      ///< malformed or over-limit input; see error_message()
};

struct Limits {
  std::size_t max_bulk_length = 512u << 20;     ///< largest bulk string (Redis' default)
  std::uint32_t max_aggregate_size = 1u << 24;  ///< most elements one aggregate may announce
  std::uint32_t max_depth = 32;                 ///< deepest nesting of aggregates
  std::size_t max_line_length = 64u << 10;      ///< longest header or simple line
  std::size_t max_nodes = 1u << 22;             ///< most nodes in one reply
  /// A reply that is one bulk string of at least this many bytes is received into a buffer
  /// of its own, which take_payload() hands over without a copy.
  std::size_t own_payload_from = 64u << 10;
};

class Parser {
 public:
  explicit Parser(Limits limits = {});

  /// A writable region of at least `min_size` bytes at the end of the buffer; while a large
  /// payload (Limits::own_payload_from) is awaited, the rest of that payload, however small,
  /// so the bytes land in their final place. Invalidates the views of the last reply.
  std::span<char> prepare(std::size_t min_size);
  /// Marks `n` bytes of the last prepare() region as received.
  void commit(std::size_t n);
  /// Copies `bytes` into the buffer (prepare + commit).
  void feed(std::string_view bytes);

  /// Parses the next reply. On Status::complete, reply() holds it until the next call to
  /// next(), prepare() or feed(). Push messages (RESP3 `>`) are returned like any reply.
  Status next();

  /// The nodes of the last complete reply, in pre-order; reply()[0] is the root.
  std::span<const Node> reply() const { return out_; }
  /// Whether the last reply is one bulk string held in a buffer of its own.
  bool owns_payload() const { return payload_published_; }
  /// That buffer, moved out (the reply's text view dies with it); "" when !owns_payload().
  std::string take_payload();

  /// Why next() returned Status::error.
  const std::string& error_message() const { return error_; }
  /// Bytes received but not yet consumed by a complete reply.
  std::size_t buffered() const { return end_ - begin_; }

 private:
  struct RawNode {
    Type type;
    std::uint32_t size;
    std::int64_t integer;
    std::size_t offset;  // of the text, relative to begin_
  };
  struct Frame {
    std::uint64_t remaining;  // elements still expected
    std::size_t first_node;   // index of the aggregate's own node
    bool attribute;           // RESP3 attributes are parsed and discarded
  };

  Status fail(std::string message);
  Status parse_header(std::size_t line_end);
  bool element_done();  // returns true when the top-level reply is complete
  void publish();
  void drop_published_payload();

  Limits limits_;
  std::vector<char> buf_;
  std::size_t begin_ = 0;    // start of the reply being parsed
  std::size_t pos_ = 0;      // parse position
  std::size_t end_ = 0;      // end of received bytes
  std::size_t scanned_ = 0;  // bytes after pos_ already known to hold no line end
  std::vector<RawNode> nodes_;
  std::vector<Frame> stack_;
  std::vector<Node> out_;
  // A bulk-like header was read and its payload is awaited.
  bool awaiting_payload_ = false;
  Type payload_type_ = Type::bulk_string;
  std::size_t payload_length_ = 0;
  // A large top-level bulk payload, received in place: payload_ holds payload_filled_ bytes.
  bool own_payload_ = false;
  bool payload_published_ = false;
  std::string payload_;
  std::size_t payload_filled_ = 0;
  bool failed_ = false;
  std::string error_;
};

/// Whether an error reply's text starts with `prefix` (e.g. "WRONGPASS", "NOAUTH").
inline bool error_has_prefix(const Node& node, std::string_view prefix) {
  return node.text.substr(0, prefix.size()) == prefix;
}

}  // namespace cachette::resp
