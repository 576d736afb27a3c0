#include "cachette/resp/parser.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace cachette::resp {
namespace {

bool is_aggregate(Type t) {
  return t == Type::array || t == Type::map || t == Type::set || t == Type::push;
}

// Strict decimal: optional '-', at least one digit, nothing else, no overflow.
bool parse_int(std::string_view s, std::int64_t& out) {
  if (s.empty() || s.size() > 20) return false;
  const char* first = s.data();
  const char* last = s.data() + s.size();
  if (*first == '+') return false;
  auto [ptr, ec] = std::from_chars(first, last, out);
  return ec == std::errc() && ptr == last;
}

}  // namespace

Parser::Parser(Limits limits) : limits_(limits) {
  buf_.resize(16 << 10);
}

std::string Parser::take_payload() {
  if (!payload_published_) return {};
  payload_published_ = false;
  return std::move(payload_);
}

void Parser::drop_published_payload() {
  if (payload_published_) {
    payload_published_ = false;
    std::string().swap(payload_);
  }
}

std::span<char> Parser::prepare(std::size_t min_size) {
  out_.clear();
  drop_published_payload();
  if (own_payload_ && payload_filled_ < payload_length_) {
    return {payload_.data() + payload_filled_, payload_length_ - payload_filled_};
  }
  if (begin_ == end_) pos_ = end_ = begin_ = 0;  // nothing pending: reuse the buffer from the start
  if (buf_.size() - end_ < min_size) {
    // Drop consumed bytes first; grow only when the reply in progress needs the room.
    if (begin_ > 0) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      pos_ -= begin_;
      end_ -= begin_;
      begin_ = 0;
    }
    if (buf_.size() - end_ < min_size) {
      buf_.resize(std::max(buf_.size() * 2, end_ + min_size));
    }
  }
  return {buf_.data() + end_, buf_.size() - end_};
}

void Parser::commit(std::size_t n) {
  if (own_payload_ && payload_filled_ < payload_length_) {
    payload_filled_ += std::min(n, payload_length_ - payload_filled_);
    return;
  }
  end_ += std::min(n, buf_.size() - end_);
}

void Parser::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    // prepare() may offer less than asked while a large payload is awaited.
    std::span<char> room = prepare(bytes.size());
    const std::size_t n = std::min(room.size(), bytes.size());
    std::memcpy(room.data(), bytes.data(), n);
    commit(n);
    bytes.remove_prefix(n);
  }
}

Status Parser::fail(std::string message) {
  failed_ = true;
  error_ = std::move(message);
  return Status::error;
}

bool Parser::element_done() {
  while (!stack_.empty()) {
    Frame& top = stack_.back();
    if (--top.remaining > 0) return false;
    const bool attribute = top.attribute;
    const std::size_t first = top.first_node;
    stack_.pop_back();
    if (attribute) {
      // An attribute annotates the element that follows; it is not an element itself.
      nodes_.resize(first);
      return false;
    }
  }
  return true;
}

void Parser::publish() {
  out_.clear();
  out_.reserve(nodes_.size());
  const char* base = buf_.data() + begin_;
  for (const RawNode& raw : nodes_) {
    Node node{raw.type, raw.size, raw.integer, {}};
    if (!is_aggregate(raw.type) && raw.type != Type::null && raw.type != Type::integer &&
        raw.type != Type::boolean) {
      node.text = std::string_view(base + raw.offset, raw.size);
    }
    out_.push_back(node);
  }
  // The reply is consumed: the next one starts here. The views stay valid until the buffer
  // is touched again (next(), prepare() or feed()).
  nodes_.clear();
  begin_ = pos_;
}

Status Parser::next() {
  if (failed_) return Status::error;
  out_.clear();
  drop_published_payload();
  for (;;) {
    if (own_payload_) {
      // Bytes that arrived in the buffer (with the header) move to the payload's own buffer.
      const std::size_t moved = std::min(end_ - pos_, payload_length_ - payload_filled_);
      std::memcpy(payload_.data() + payload_filled_, buf_.data() + pos_, moved);
      payload_filled_ += moved;
      pos_ += moved;
      if (payload_filled_ < payload_length_ || end_ - pos_ < 2) return Status::need_more;
      if (buf_[pos_] != '\r' || buf_[pos_ + 1] != '\n') {
        return fail("bulk payload not terminated by CRLF");
      }
      pos_ += 2;
      own_payload_ = false;
      awaiting_payload_ = false;
      nodes_.push_back({Type::bulk_string, static_cast<std::uint32_t>(payload_length_), 0, 0});
      publish();
      out_[0].text = payload_;
      payload_published_ = true;
      return Status::complete;
    }
    if (awaiting_payload_) {
      if (end_ - pos_ < payload_length_ + 2) return Status::need_more;
      const char* p = buf_.data() + pos_;
      if (p[payload_length_] != '\r' || p[payload_length_ + 1] != '\n') {
        return fail("bulk payload not terminated by CRLF");
      }
      std::size_t offset = pos_ - begin_;
      std::size_t length = payload_length_;
      if (payload_type_ == Type::verbatim) {
        if (length < 4 || p[3] != ':') return fail("verbatim string without a format prefix");
        offset += 4;
        length -= 4;
      }
      nodes_.push_back({payload_type_, static_cast<std::uint32_t>(length), 0, offset});
      pos_ += payload_length_ + 2;
      awaiting_payload_ = false;
      if (element_done()) {
        publish();
        return Status::complete;
      }
      continue;
    }
    if (pos_ == end_) return Status::need_more;
    // Find the end of the header line, remembering how far earlier calls already looked.
    const char* start = buf_.data() + pos_;
    const std::size_t available = end_ - pos_;
    const std::size_t from = std::min(scanned_, available);
    const void* lf = std::memchr(start + from, '\n', available - from);
    if (lf == nullptr) {
      if (available > limits_.max_line_length) return fail("header line too long");
      scanned_ = available;
      return Status::need_more;
    }
    scanned_ = 0;
    const std::size_t line_end = static_cast<std::size_t>(static_cast<const char*>(lf) - start);
    if (line_end == 0 || start[line_end - 1] != '\r') return fail("line not terminated by CRLF");
    if (line_end - 1 > limits_.max_line_length) return fail("header line too long");
    Status s = parse_header(line_end);
    if (s != Status::need_more) return s;
  }
}

// Parses the header line [pos_, pos_ + line_end - 1) whose '\n' sits at pos_ + line_end.
// Returns need_more to continue the loop, complete when the reply finished, or error.
Status Parser::parse_header(std::size_t line_end) {
  const char* start = buf_.data() + pos_;
  const char marker = start[0];
  const std::string_view body(start + 1, line_end - 2);
  const std::size_t body_offset = pos_ + 1 - begin_;
  pos_ += line_end + 1;
  if (nodes_.size() >= limits_.max_nodes) return fail("reply has too many elements");

  auto scalar = [&](Type type, std::int64_t integer, bool with_text) {
    nodes_.push_back(
        {type, with_text ? static_cast<std::uint32_t>(body.size()) : 0u, integer, body_offset});
    if (element_done()) {
      publish();
      return Status::complete;
    }
    return Status::need_more;
  };

  switch (marker) {
    case '+': return scalar(Type::simple_string, 0, true);
    case '-': return scalar(Type::error, 0, true);
    case ',':
      if (body.empty()) return fail("empty double");
      return scalar(Type::double_number, 0, true);
    case '(':
      if (body.empty()) return fail("empty big number");
      return scalar(Type::big_number, 0, true);
    case ':': {
      std::int64_t v = 0;
      if (!parse_int(body, v)) return fail("malformed integer");
      return scalar(Type::integer, v, false);
    }
    case '#':
      if (body == "t") return scalar(Type::boolean, 1, false);
      if (body == "f") return scalar(Type::boolean, 0, false);
      return fail("malformed boolean");
    case '_':
      if (!body.empty()) return fail("malformed null");
      return scalar(Type::null, 0, false);
    case '$':
    case '!':
    case '=': {
      if (body == "?") return fail("streamed strings are not supported");
      std::int64_t length = 0;
      if (!parse_int(body, length)) return fail("malformed bulk length");
      if (length == -1 && marker == '$') return scalar(Type::null, 0, false);
      if (length < 0) return fail("negative bulk length");
      if (static_cast<std::uint64_t>(length) > limits_.max_bulk_length) {
        return fail("bulk string over the size limit");
      }
      awaiting_payload_ = true;
      payload_length_ = static_cast<std::size_t>(length);
      payload_type_ = marker == '$'   ? Type::bulk_string
                      : marker == '!' ? Type::bulk_error
                                      : Type::verbatim;
      if (marker == '$' && nodes_.empty() && stack_.empty() &&
          payload_length_ >= limits_.own_payload_from && payload_length_ > 0) {
        // The whole reply is this payload: give it a buffer of its own, and the socket reads
        // that follow go straight into it (prepare()).
        own_payload_ = true;
        payload_.resize(payload_length_);
        payload_filled_ = 0;
      }
      return Status::need_more;
    }
    case '*':
    case '%':
    case '~':
    case '>':
    case '|': {
      if (body == "?") return fail("streamed aggregates are not supported");
      std::int64_t count = 0;
      if (!parse_int(body, count)) return fail("malformed aggregate length");
      if (count == -1 && marker == '*') return scalar(Type::null, 0, false);
      if (count < 0) return fail("negative aggregate length");
      if (static_cast<std::uint64_t>(count) > limits_.max_aggregate_size) {
        return fail("aggregate over the size limit");
      }
      const bool pairs = marker == '%' || marker == '|';
      const std::uint64_t elements = static_cast<std::uint64_t>(count) * (pairs ? 2 : 1);
      if (marker == '|') {
        if (elements == 0) return Status::need_more;  // an empty attribute annotates nothing
        if (stack_.size() >= limits_.max_depth) return fail("aggregates nested too deeply");
        stack_.push_back({elements, nodes_.size(), true});
        nodes_.push_back({Type::map, static_cast<std::uint32_t>(count), 0, 0});
        return Status::need_more;
      }
      const Type type = marker == '*'   ? Type::array
                        : marker == '%' ? Type::map
                        : marker == '~' ? Type::set
                                        : Type::push;
      if (elements == 0) return scalar(type, 0, false);
      if (stack_.size() >= limits_.max_depth) return fail("aggregates nested too deeply");
      stack_.push_back({elements, nodes_.size(), false});
      nodes_.push_back({type, static_cast<std::uint32_t>(count), 0, 0});
      return Status::need_more;
    }
    default: return fail("unknown RESP type marker");
  }
}

}  // namespace cachette::resp
