// The reply half of protocol.hpp: the encoder is in protocol.cpp.
#include <algorithm>
#include <charconv>

#include "cachette/memcache/parser.hpp"

namespace cachette::memcache {
namespace {

constexpr std::string_view kCrlf = "\r\n";

template <typename Int>
bool parse_int(std::string_view s, Int& out) {
  // from_chars takes no '+' and a '-' only for signed types, which is the grammar we want.
  const auto result = std::from_chars(s.data(), s.data() + s.size(), out);
  return result.ec == std::errc{} && result.ptr == s.data() + s.size();
}

// Splits off the next space-separated token; memcached separates with one space, but a run of
// spaces costs nothing to tolerate.
std::string_view next_token(std::string_view& rest) {
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  const std::size_t end = std::min(rest.find(' '), rest.size());
  const std::string_view token = rest.substr(0, end);
  rest.remove_prefix(end);
  return token;
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

bool valid_uri(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') continue;
    if (s.size() - i < 3 || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) return false;
    i += 2;
  }
  return true;
}

ParseError parse_flags(std::string_view rest, ReturnFlags& flags) {
  for (std::string_view token = next_token(rest); !token.empty(); token = next_token(rest)) {
    const char flag = token.front();
    const std::string_view arg = token.substr(1);
    bool ok = true;
    switch (flag) {
      case 't': ok = parse_int(arg, flags.ttl.emplace()); break;
      case 'c': ok = parse_int(arg, flags.cas.emplace()); break;
      case 'f': ok = parse_int(arg, flags.client_flags.emplace()); break;
      case 's': ok = parse_int(arg, flags.size.emplace()); break;
      case 'k': flags.key = arg; break;
      case 'O': flags.opaque = arg; break;
      case 'b':
        ok = arg.empty();
        flags.base64_key = true;
        break;
      case 'W':
        ok = arg.empty();
        flags.won = true;
        break;
      case 'X':
        ok = arg.empty();
        flags.stale = true;
        break;
      case 'Z':
        ok = arg.empty();
        flags.win_sent = true;
        break;
      default:
        // Flags we never request (h, l, ...) may still come back from a newer server.
        ok = (flag >= 'a' && flag <= 'z') || (flag >= 'A' && flag <= 'Z');
    }
    if (!ok) return ParseError::bad_flag;
  }
  return ParseError::none;
}

ParseError parse_metadump(std::string_view line, MetadumpEntry& entry) {
  bool have_key = false;
  for (std::string_view token = next_token(line); !token.empty(); token = next_token(line)) {
    const std::size_t eq = token.find('=');
    if (eq == std::string_view::npos) return ParseError::bad_metadump;
    const std::string_view name = token.substr(0, eq);
    const std::string_view value = token.substr(eq + 1);
    bool ok = true;
    if (name == "key") {
      ok = !value.empty() && valid_uri(value);
      entry.key = value;
      have_key = true;
    } else if (name == "exp") {
      ok = parse_int(value, entry.expires_at);
    } else if (name == "la") {
      ok = parse_int(value, entry.last_access);
    } else if (name == "cas") {
      ok = parse_int(value, entry.cas);
    } else if (name == "fetch") {
      ok = value == "yes" || value == "no";
      entry.fetched = value == "yes";
    } else if (name == "cls") {
      ok = parse_int(value, entry.slab_class);
    } else if (name == "size") {
      ok = parse_int(value, entry.size);
    }
    if (!ok) return ParseError::bad_metadump;
  }
  return have_key ? ParseError::none : ParseError::bad_metadump;
}

struct TextReply {
  std::string_view code;
  ReplyKind kind;
  bool needs_text;  // false: the line is exactly the code
};

// Replies that are a code optionally followed by free text.
constexpr TextReply kTextReplies[] = {
    {"OK", ReplyKind::ok, false},
    {"END", ReplyKind::end, false},
    {"STORED", ReplyKind::stored, false},
    {"VERSION", ReplyKind::version, true},
    {"ERROR", ReplyKind::error, true},
    {"CLIENT_ERROR", ReplyKind::client_error, true},
    {"SERVER_ERROR", ReplyKind::server_error, true},
    {"BUSY", ReplyKind::busy, true},
    {"BADCLASS", ReplyKind::bad_class, true},
    {"NOTSTARTED", ReplyKind::not_started, true},
};

struct MetaReply {
  std::string_view code;
  ReplyKind kind;
};

constexpr MetaReply kMetaReplies[] = {
    {"HD", ReplyKind::header},     {"EN", ReplyKind::miss},   {"NF", ReplyKind::not_found},
    {"NS", ReplyKind::not_stored}, {"EX", ReplyKind::exists},
};

}  // namespace

const char* to_string(ReplyKind kind) noexcept {
  switch (kind) {
    case ReplyKind::header: return "HD";
    case ReplyKind::value: return "VA";
    case ReplyKind::miss: return "EN";
    case ReplyKind::not_found: return "NF";
    case ReplyKind::not_stored: return "NS";
    case ReplyKind::exists: return "EX";
    case ReplyKind::noop: return "MN";
    case ReplyKind::ok: return "OK";
    case ReplyKind::end: return "END";
    case ReplyKind::stored: return "STORED";
    case ReplyKind::version: return "VERSION";
    case ReplyKind::metadump_entry: return "metadump entry";
    case ReplyKind::error: return "ERROR";
    case ReplyKind::client_error: return "CLIENT_ERROR";
    case ReplyKind::server_error: return "SERVER_ERROR";
    case ReplyKind::busy: return "BUSY";
    case ReplyKind::bad_class: return "BADCLASS";
    case ReplyKind::not_started: return "NOTSTARTED";
  }
  return "unknown";
}

const char* to_string(ParseError error) noexcept {
  switch (error) {
    case ParseError::none: return "none";
    case ParseError::line_too_long: return "reply line too long";
    case ParseError::bad_line_end: return "reply line not ended by CRLF";
    case ParseError::unknown_reply: return "unknown reply";
    case ParseError::bad_number: return "malformed number";
    case ParseError::bad_flag: return "malformed return flag";
    case ParseError::value_too_large: return "value larger than the configured maximum";
    case ParseError::bad_data_end: return "data block not ended by CRLF";
    case ParseError::bad_metadump: return "malformed metadump line";
  }
  return "unknown";
}

void Parser::feed(std::string_view bytes) {
  fed_ += bytes.size();
  if (error_ != ParseError::none) return;
  // Drop returned replies only once they are at least half the buffer, so a large value arriving
  // in small pieces is moved O(1) times on average rather than once per piece.
  if (read_ == buffer_.size()) {
    buffer_.clear();
    read_ = 0;
  } else if (read_ > 0 && read_ >= buffer_.size() / 2) {
    buffer_.erase(0, read_);
    read_ = 0;
  }
  buffer_.append(bytes);
}

void Parser::reset() {
  buffer_.clear();
  read_ = scanned_ = need_ = 0;
  fed_ = consumed_ = 0;
  error_ = ParseError::none;
}

ParseStatus Parser::fail(ParseError error) {
  error_ = error;
  return ParseStatus::error;
}

ParseStatus Parser::next(Reply& out) {
  if (error_ != ParseError::none) return ParseStatus::error;
  const std::string_view input = std::string_view(buffer_).substr(read_);
  if (need_ != 0 && input.size() < need_) return ParseStatus::need_more;

  const std::size_t newline = input.find('\n', scanned_);
  if (newline == std::string_view::npos) {
    scanned_ = input.size();
    // Room for max_line bytes and the '\r'; anything longer can no longer end in time.
    if (input.size() > limits_.max_line + 1) return fail(ParseError::line_too_long);
    return ParseStatus::need_more;
  }
  scanned_ = newline;
  std::string_view line = input.substr(0, newline);
  const bool crlf = !line.empty() && line.back() == '\r';
  if (crlf) line.remove_suffix(1);
  if (line.size() > limits_.max_line) return fail(ParseError::line_too_long);
  std::size_t total = newline + 1;

  out = Reply{};
  const std::size_t space = line.find(' ');
  const std::string_view code = line.substr(0, space);
  std::string_view rest = space == std::string_view::npos ? std::string_view{} : line.substr(space);
  if (line.starts_with("key=")) {
    // The crawler ends its lines with a bare \n, the only reply that does.
    out.kind = ReplyKind::metadump_entry;
    if (const ParseError e = parse_metadump(line, out.entry); e != ParseError::none) return fail(e);
  } else if (!crlf) {
    return fail(ParseError::bad_line_end);
  } else if (code == "VA") {
    std::size_t size = 0;
    const std::string_view size_token = next_token(rest);
    if (!parse_int(size_token, size)) {
      // A size that does not fit size_t is still a size, just far too large.
      const bool digits = !size_token.empty() &&
                          size_token.find_first_not_of("0123456789") == std::string_view::npos;
      return fail(digits ? ParseError::value_too_large : ParseError::bad_number);
    }
    if (size > limits_.max_value) return fail(ParseError::value_too_large);
    out.kind = ReplyKind::value;
    if (const ParseError e = parse_flags(rest, out.flags); e != ParseError::none) return fail(e);
    const std::size_t needed = total + size + kCrlf.size();
    if (input.size() < needed) {
      need_ = needed;
      return ParseStatus::need_more;
    }
    if (input.substr(total + size, kCrlf.size()) != kCrlf) return fail(ParseError::bad_data_end);
    out.data = input.substr(total, size);
    total = needed;
  } else if (code == "MN" && rest.empty()) {
    out.kind = ReplyKind::noop;
  } else {
    bool matched = false;
    for (const MetaReply& meta : kMetaReplies) {
      if (code != meta.code) continue;
      out.kind = meta.kind;
      if (const ParseError e = parse_flags(rest, out.flags); e != ParseError::none) return fail(e);
      matched = true;
      break;
    }
    for (const TextReply& text : kTextReplies) {
      if (matched || code != text.code) continue;
      if (!text.needs_text && line.size() != code.size()) return fail(ParseError::unknown_reply);
      out.kind = text.kind;
      out.text = line.substr(std::min(line.size(), code.size() + 1));
      matched = true;
    }
    if (!matched) return fail(ParseError::unknown_reply);
  }

  read_ += total;
  consumed_ += total;
  scanned_ = 0;
  need_ = 0;
  return ParseStatus::reply;
}

bool uri_decode(std::string_view encoded, std::string& out) {
  out.clear();
  out.reserve(encoded.size());
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] != '%') {
      out += encoded[i];
      continue;
    }
    if (encoded.size() - i < 3 || !is_hex(encoded[i + 1]) || !is_hex(encoded[i + 2])) return false;
    out += static_cast<char>(hex_value(encoded[i + 1]) * 16 + hex_value(encoded[i + 2]));
    i += 2;
  }
  return true;
}

}  // namespace cachette::memcache
