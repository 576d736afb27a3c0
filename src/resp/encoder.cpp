#include "cachette/resp/encoder.hpp"

namespace cachette::resp {

void append_command(std::string& out, std::span<const std::string_view> args) {
  std::size_t size = 16;
  for (std::string_view a : args) size += a.size() + 16;
  out.reserve(out.size() + size);
  CommandWriter writer(out, args.size());
  for (std::string_view a : args) writer.arg(a);
}

}  // namespace cachette::resp
