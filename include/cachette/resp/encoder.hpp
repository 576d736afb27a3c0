#pragma once
/// RESP command encoder: appends commands, as arrays of bulk strings, to a caller's buffer so
/// that many commands can share one buffer and go out in one write.

#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace cachette::resp {

/// Writes one command argument by argument: CommandWriter(out, 3).arg("SET").arg(k).arg(v).
class CommandWriter {
 public:
  CommandWriter(std::string& out, std::size_t argument_count) : out_(out) {
    header('*', argument_count);
  }
  CommandWriter& arg(std::string_view bytes) {
    header('$', bytes.size());
    out_.append(bytes);
    out_.append("\r\n", 2);
    return *this;
  }
  CommandWriter& arg(std::int64_t number) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, number);
    (void)ec;
    return arg(std::string_view(digits, static_cast<std::size_t>(end - digits)));
  }

 private:
  void header(char marker, std::size_t n) {
    char line[24];
    line[0] = marker;
    auto [end, ec] = std::to_chars(line + 1, line + sizeof line - 2, n);
    (void)ec;
    *end++ = '\r';
    *end++ = '\n';
    out_.append(line, static_cast<std::size_t>(end - line));
  }
  std::string& out_;
};

/// Appends a command made of `args` to `out`.
void append_command(std::string& out, std::span<const std::string_view> args);
inline void append_command(std::string& out, std::initializer_list<std::string_view> args) {
  append_command(out, std::span<const std::string_view>(args.begin(), args.size()));
}

}  // namespace cachette::resp
