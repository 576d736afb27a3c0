// libFuzzer target for the file store's on-disk record and index-key format
// (src/file/file_format.cpp): whatever bytes a damaged or planted store holds, reading them
// must never crash or read out of bounds, and what we write must read back exactly.
//
// Invariants checked, beyond "does not crash":
//  - read_record on arbitrary bytes either refuses them or returns views that lie inside the
//    input and together cover it exactly (header + full key + value);
//  - a record written for (key, value) reads back with the same expiry, write time, key and
//    value, and record_matches() accepts it for that key only (hashed keys compare in full);
//  - split_expiry_key on arbitrary bytes refuses them or splits at byte 8, and expiry_key
//    round-trips through it;
//  - stored keys never exceed LMDB's key limit, and keep the key's first kDirectKeyMax bytes;
//  - the whole input, as a data file, goes through the damage check that runs before LMDB
//    maps a store (src/file/store_check.cpp): it reads with pread only, must terminate
//    without crashing on any bytes (cycles, wild page numbers, bad bounds), and gives the
//    same verdict twice.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include <sys/mman.h>
#include <unistd.h>

#include "cachette/detail/file_format.hpp"
#include "cachette/detail/file_store_check.hpp"

namespace file = cachette::file;

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

bool inside(std::string_view part, std::string_view whole) {
  if (part.empty()) return true;
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

std::int64_t take_i64(std::string_view& in) {
  std::int64_t v = 0;
  const std::size_t n = std::min(in.size(), sizeof v);
  std::memcpy(&v, in.data(), n);
  in.remove_prefix(n);
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // 0. Arbitrary bytes as a whole data file.
  static const int fd = memfd_create("fuzz-store", 0);
  check(fd >= 0);
  check(::ftruncate(fd, 0) == 0);
  check(::pwrite(fd, data, size, 0) == static_cast<ssize_t>(size));
  const auto verdict = file::find_damage(fd, true);
  check(verdict == file::find_damage(fd, true));
  if (size == 0) check(!verdict.has_value());  // an empty file becomes a new store

  // 1. Arbitrary bytes as a stored record.
  if (auto record = file::read_record(input)) {
    check(input.size() >= file::kHeaderSize);
    check(inside(record->full_key, input) && inside(record->value, input));
    check(file::kHeaderSize + record->full_key.size() + record->value.size() == input.size());
    (void)file::record_matches(record->full_key, *record, record->full_key);
  }

  // 2. Arbitrary bytes as an expiry index key.
  if (auto split = file::split_expiry_key(input)) {
    check(input.size() > 8);
    check(split->second == input.substr(8));
    check(file::expiry_key(split->first, split->second) == input);
  }

  // 3. Round trip: the input chooses expiry, write time, key length, key and value.
  std::string_view rest = input;
  const std::int64_t expires = take_i64(rest);
  const std::int64_t written = take_i64(rest);
  std::size_t key_size = 0;
  if (!rest.empty()) {
    // Lengths around kDirectKeyMax matter most: stretch the key there half of the time.
    key_size = static_cast<unsigned char>(rest.front());
    rest.remove_prefix(1);
  }
  std::string key(rest.substr(0, std::min(key_size, rest.size())));
  if (key_size & 1) key.resize(file::kDirectKeyMax - 8 + key_size % 32, 'k');
  const std::string_view value = rest.substr(std::min(key_size, rest.size()));
  if (key.empty()) return 0;  // the store refuses empty keys before writing

  const std::string stored = file::stored_key(key);
  check(stored.size() <= file::kDirectKeyMax + file::kKeyHashSize);
  check(stored.size() + 8 <= 511);  // LMDB's default maximum key size, index prefix included
  check(std::string_view(stored).substr(0, file::kDirectKeyMax) ==
        std::string_view(key).substr(0, file::kDirectKeyMax));
  check(file::is_hashed(stored) == (key.size() > file::kDirectKeyMax));

  std::string buffer(file::record_size(key, value), '\0');
  file::write_record(buffer.data(), key, value, expires, written);
  auto back = file::read_record(buffer);
  check(back.has_value());
  check(back->expires_ms == expires && back->written_ms == written);
  check(back->value == value);
  check(file::record_matches(stored, *back, key));
  if (file::is_hashed(stored)) {
    check(back->full_key == key);
    std::string other = key;
    other.back() = static_cast<char>(other.back() ^ 1);
    check(!file::record_matches(stored, *back, other));
  }

  const std::string index = file::expiry_key(expires, stored);
  auto split = file::split_expiry_key(index);
  check(split.has_value() && split->first == expires && split->second == stored);
  return 0;
}
