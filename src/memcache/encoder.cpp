#include "cachette/memcache/encoder.hpp"

#include <algorithm>
#include <charconv>

namespace cachette::memcache {
namespace {

bool is_token_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f;
}

bool is_base64_byte(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// memcached decodes `b` keys strictly: padded to a multiple of 4, '=' only at the end.
bool valid_base64(std::string_view s) {
  if (s.empty() || s.size() % 4 != 0) return false;
  std::size_t body = s.size();
  while (body > 0 && s.size() - body < 2 && s[body - 1] == '=') --body;
  return std::all_of(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(body), is_base64_byte);
}

bool valid_key(const WireKey& key) {
  if (key.token.empty() || key.token.size() > kMaxKeyToken) return false;
  if (key.base64) return valid_base64(key.token);
  return std::all_of(key.token.begin(), key.token.end(), is_token_byte);
}

bool valid_opaque(std::string_view opaque) {
  return opaque.size() <= kMaxOpaque && std::all_of(opaque.begin(), opaque.end(), is_token_byte);
}

template <typename Int>
void append_number(std::string& out, Int value) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, result.ptr);
}

void append_flag(std::string& out, char flag) {
  out += ' ';
  out += flag;
}

template <typename Int>
void append_flag(std::string& out, char flag, Int value) {
  append_flag(out, flag);
  append_number(out, value);
}

void append_head(std::string& out, std::string_view command, const WireKey& key) {
  out += command;
  out += ' ';
  out += key.token;
}

void append_tail(std::string& out, const WireKey& key, bool quiet, std::string_view opaque) {
  if (key.base64) append_flag(out, 'b');
  if (quiet) append_flag(out, 'q');
  if (!opaque.empty()) {
    append_flag(out, 'O');
    out += opaque;
  }
  out += "\r\n";
}

}  // namespace

bool encode_get(std::string& out, const GetRequest& request) {
  if (!valid_key(request.key) || !valid_opaque(request.opaque)) return false;
  append_head(out, "mg", request.key);
  if (request.value) append_flag(out, 'v');
  if (request.ttl) append_flag(out, 't');
  if (request.return_key) append_flag(out, 'k');
  if (request.cas) append_flag(out, 'c');
  append_tail(out, request.key, request.quiet, request.opaque);
  return true;
}

bool encode_set(std::string& out, const SetRequest& request) {
  if (!valid_key(request.key) || !valid_opaque(request.opaque) || request.ttl > kMaxRelativeTtl) {
    return false;
  }
  append_head(out, "ms", request.key);
  out += ' ';
  append_number(out, request.value.size());
  if (request.ttl != 0) append_flag(out, 'T', request.ttl);
  if (request.add) out += " ME";
  append_tail(out, request.key, request.quiet, request.opaque);
  out += request.value;
  out += "\r\n";
  return true;
}

bool encode_delete(std::string& out, const DeleteRequest& request) {
  if (!valid_key(request.key) || !valid_opaque(request.opaque)) return false;
  append_head(out, "md", request.key);
  if (request.compare_cas) append_flag(out, 'C', *request.compare_cas);
  append_tail(out, request.key, request.quiet, request.opaque);
  return true;
}

bool encode_arithmetic(std::string& out, const ArithmeticRequest& request) {
  if (!valid_key(request.key) || !valid_opaque(request.opaque) ||
      (request.create_ttl && *request.create_ttl > kMaxRelativeTtl)) {
    return false;
  }
  append_head(out, "ma", request.key);
  if (request.create_ttl) {
    append_flag(out, 'N', *request.create_ttl);
    append_flag(out, 'J', request.initial);
  }
  if (request.delta != 1) append_flag(out, 'D', request.delta);
  if (request.decrement) out += " MD";
  if (request.return_value) append_flag(out, 'v');
  append_tail(out, request.key, request.quiet, request.opaque);
  return true;
}

void encode_noop(std::string& out) {
  out += "mn\r\n";
}
void encode_flush_all(std::string& out) {
  out += "flush_all\r\n";
}
void encode_version(std::string& out) {
  out += "version\r\n";
}

void encode_metadump(std::string& out, MetadumpScope scope) {
  out += scope == MetadumpScope::hash ? "lru_crawler metadump hash\r\n"
                                      : "lru_crawler metadump all\r\n";
}

bool encode_auth(std::string& out, std::string_view username, std::string_view password) {
  // The server splits the data block at the first space and reads its authfile as user:pass
  // lines, so neither part may hold a space, a line break or (for the user) a colon.
  const auto bad = [](char c) { return c == ' ' || c == '\r' || c == '\n' || c == '\0'; };
  if (username.empty() || password.empty() || std::any_of(username.begin(), username.end(), bad) ||
      username.find(':') != std::string_view::npos ||
      std::any_of(password.begin(), password.end(), bad)) {
    return false;
  }
  // A server with -Y takes any `set` as the login and ignores its key. A server without it
  // must store nothing: the key is longer than memcached accepts (so that set is refused
  // before any data block is read, and it can never be a user's key), and the data line,
  // then read as a command, carries so many tokens that every command that could change
  // something refuses it. A no-op follows, to find the end of whatever the server answered.
  static const std::string kKey = "cachette-login" + std::string(kMaxKeyToken + 1 - 14, '_');
  std::string data;
  data.reserve(username.size() + password.size() + 2 * kLoginPadding + 1);
  data += username;
  data += ' ';
  data += password;
  for (int i = 0; i < kLoginPadding; ++i) data += " !";
  out += "set ";
  out += kKey;
  out += " 0 0 ";
  append_number(out, data.size());
  out += "\r\n";
  out += data;
  out += "\r\nmn\r\n";
  return true;
}

}  // namespace cachette::memcache
