#include "cachette/detail/file_store_check.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "cachette/error.hpp"

namespace cachette::file {
namespace {

// LMDB 0.9 on-disk layout (64-bit builds), as read by mdb.c. Offsets within a page.
constexpr std::size_t kPageHeader = 16;     // pgno u64, pad u16, flags u16, lower, upper
constexpr std::size_t kMetaMagic = 16;      // MDB_meta after the page header
constexpr std::size_t kMetaFreeDb = 40;     // mm_dbs[FREE_DBI]; its md_pad is the page size
constexpr std::size_t kMetaMainDb = 88;     // mm_dbs[MAIN_DBI]
constexpr std::size_t kMetaLastPage = 136;  // mm_last_pg
constexpr std::size_t kMetaTxnId = 144;     // mm_txnid
constexpr std::size_t kDbSize = 48;         // sizeof(MDB_db)
constexpr std::size_t kDbRoot = 40;         // md_root within MDB_db
constexpr std::size_t kNodeHeader = 8;      // lo, hi, flags, ksize (u16 each)
constexpr std::uint32_t kMagic = 0xBEEFC0DE;
constexpr std::uint16_t kBranch = 0x01, kLeaf = 0x02, kOverflow = 0x04, kLeaf2 = 0x20;
constexpr std::uint16_t kBigData = 0x01, kSubData = 0x02, kDupData = 0x04;
constexpr std::uint64_t kInvalidPage = ~std::uint64_t{0};
constexpr int kMaxDepth = 32;

template <class T>
T load(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

struct Meta {
  std::uint32_t page_size = 0;
  std::uint64_t last_page = 0;
  std::uint64_t txn = 0;
  std::uint64_t free_root = kInvalidPage, main_root = kInvalidPage;
};

class Walker {
 public:
  Walker(int fd, const Meta& meta, std::uint64_t file_size)
      : fd_(fd),
        meta_(meta),
        file_size_(file_size),
        page_(meta.page_size),
        seen_(meta.last_page + 1, false) {}

  std::optional<std::string> walk_tree(std::uint64_t root, bool sub_databases) {
    if (root == kInvalidPage) return std::nullopt;
    return walk(root, 0, sub_databases);
  }

 private:
  std::optional<std::string> read(std::uint64_t pgno, std::vector<unsigned char>& out) {
    if (pgno < 2 || pgno > meta_.last_page) {
      return "a page reference (" + std::to_string(pgno) + ") points outside the store";
    }
    out.resize(page_);
    const auto offset = static_cast<off_t>(pgno * page_);
    const ssize_t n = ::pread(fd_, out.data(), page_, offset);
    if (n != static_cast<ssize_t>(page_)) return "page " + std::to_string(pgno) + " is missing";
    if (load<std::uint64_t>(out.data()) != pgno) {
      return "page " + std::to_string(pgno) +
             " does not hold what the tree expects (zeroed "
             "or overwritten)";
    }
    return std::nullopt;
  }

  std::optional<std::string> walk(std::uint64_t pgno, int depth, bool sub_databases) {
    if (depth > kMaxDepth) return std::string("the B-tree is deeper than any LMDB tree can be");
    std::vector<unsigned char> p;
    if (auto bad = read(pgno, p)) return bad;
    if (seen_[pgno]) return "page " + std::to_string(pgno) + " is referenced twice";
    seen_[pgno] = true;
    const std::string where = "page " + std::to_string(pgno);
    const auto flags = load<std::uint16_t>(&p[10]);
    const auto lower = load<std::uint16_t>(&p[12]);
    const auto upper = load<std::uint16_t>(&p[14]);
    const bool branch = (flags & kBranch) != 0, leaf = (flags & kLeaf) != 0;
    if (branch == leaf || (flags & (kOverflow | kLeaf2)) != 0) {
      return where + " has an impossible type";
    }
    if (lower < kPageHeader || lower > upper || upper > page_ || (lower - kPageHeader) % 2) {
      return where + " has impossible bounds";
    }
    const std::size_t keys = (lower - kPageHeader) / 2;
    if (keys == 0) return where + " is empty";
    for (std::size_t i = 0; i < keys; ++i) {
      const auto at = load<std::uint16_t>(&p[kPageHeader + 2 * i]);
      if (at < upper || at + kNodeHeader > page_) return where + " has a node out of bounds";
      const unsigned char* node = &p[at];
      const std::uint64_t lo = load<std::uint16_t>(node), hi = load<std::uint16_t>(node + 2);
      const auto node_flags = load<std::uint16_t>(node + 4);
      const auto key_size = load<std::uint16_t>(node + 6);
      if (at + kNodeHeader + key_size > page_) return where + " has a key out of bounds";
      if (branch) {
        const std::uint64_t child = lo | (hi << 16) | (std::uint64_t{node_flags} << 32);
        if (auto bad = walk(child, depth + 1, sub_databases)) return bad;
        continue;
      }
      const std::uint64_t data_size = lo | (hi << 16);
      const unsigned char* data = node + kNodeHeader + key_size;
      if (node_flags & kBigData) {
        if (at + kNodeHeader + key_size + 8 > page_) return where + " has a node out of bounds";
        if (auto bad = check_overflow(load<std::uint64_t>(data), data_size)) return bad;
        continue;
      }
      if (at + kNodeHeader + key_size + data_size > page_) {
        return where + " has a value out of bounds";
      }
      if ((node_flags & kSubData) && sub_databases) {
        if (data_size != kDbSize) return where + " has a malformed database record";
        if (auto bad = walk_tree(load<std::uint64_t>(data + kDbRoot), false)) return bad;
      }
      (void)kDupData;  // inline duplicate pages are not used by cachette stores
    }
    return std::nullopt;
  }

  std::optional<std::string> check_overflow(std::uint64_t pgno, std::uint64_t data_size) {
    std::vector<unsigned char> p;
    if (auto bad = read(pgno, p)) return bad;
    const auto flags = load<std::uint16_t>(&p[10]);
    const auto pages = load<std::uint32_t>(&p[12]);
    if (!(flags & kOverflow) || pages == 0 || pgno + pages - 1 > meta_.last_page ||
        std::uint64_t{pages} * page_ - kPageHeader < data_size) {
      return "overflow page " + std::to_string(pgno) + " is damaged";
    }
    if ((pgno + pages) * page_ > file_size_) return "the file ends inside a value";
    return std::nullopt;
  }

  int fd_;
  Meta meta_;
  std::uint64_t file_size_;
  std::size_t page_;
  std::vector<bool> seen_;
};

std::optional<Meta> read_meta(int fd, std::uint64_t offset) {
  unsigned char head[kMetaTxnId + 8];
  if (::pread(fd, head, sizeof head, static_cast<off_t>(offset)) != sizeof head) return {};
  if (load<std::uint32_t>(head + kMetaMagic) != kMagic) return {};
  Meta m;
  m.page_size = load<std::uint32_t>(head + kMetaFreeDb);
  m.last_page = load<std::uint64_t>(head + kMetaLastPage);
  m.txn = load<std::uint64_t>(head + kMetaTxnId);
  m.free_root = load<std::uint64_t>(head + kMetaFreeDb + kDbRoot);
  m.main_root = load<std::uint64_t>(head + kMetaMainDb + kDbRoot);
  if (m.page_size < 512 || m.page_size > 65536 || (m.page_size & (m.page_size - 1))) return {};
  return m;
}

[[noreturn]] void refuse(const std::string& path, const std::string& problem) {
  throw Error(Errc::storage, "file store '" + path + "': " + problem);
}

void check_stat(const struct stat& st, const std::string& what, const std::string& path) {
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    refuse(path, what + " belongs to another user (uid " + std::to_string(st.st_uid) +
                     "); a store another user could write is never opened (values it holds "
                     "may run code when decoded). Use a pickle_path of your own.");
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    refuse(path, what +
                     " is writable by other users; a store they could write is never "
                     "opened. Remove their write permission (chmod go-w) or use another "
                     "pickle_path.");
  }
}

}  // namespace

std::optional<std::string> find_damage(int fd, bool walk_pages) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return std::string("cannot be examined: ") + std::strerror(errno);
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  if (file_size == 0) return std::nullopt;  // new: LMDB initialises it
  auto first = read_meta(fd, 0);
  if (!first) return std::string("its first meta page is damaged");
  auto second = read_meta(fd, first->page_size);
  if (!second || second->page_size != first->page_size) {
    return std::string("its second meta page is damaged");
  }
  // LMDB uses the meta page of the latest transaction.
  const Meta& meta = second->txn > first->txn ? *second : *first;
  if (meta.last_page < 1) return std::string("its meta page is damaged");
  // Pages 0..last_page must all lie in the file. Compared in pages, not bytes: a planted
  // last_page near 2^64 would wrap (last_page + 1) * page_size around to something small.
  if (meta.last_page >= file_size / meta.page_size) {
    return "it is truncated: " + std::to_string(file_size) + " bytes, but its pages reach page " +
           std::to_string(meta.last_page) + " of " + std::to_string(meta.page_size) + " bytes";
  }
  if (!walk_pages) return std::nullopt;
  Walker walker(fd, meta, file_size);
  if (auto bad = walker.walk_tree(meta.free_root, false)) return bad;
  return walker.walk_tree(meta.main_root, true);
}

ExclusiveUse::ExclusiveUse(const std::string& lock_path) {
  fd_ = ::open(lock_path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd_ < 0) {
    held_ = errno == ENOENT;  // no lock file: nobody has the store open
    return;
  }
  // LMDB's first opener takes a write lock on byte 0 of the lock file and every opener then
  // holds a read lock there (mdb_env_excl_lock): getting the write lock means nobody else
  // has the store open, and openers wait for us until it is released.
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = 0;
  lock.l_len = 1;
  held_ = ::fcntl(fd_, F_SETLK, &lock) == 0;
}

ExclusiveUse::~ExclusiveUse() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

void check_ownership(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) refuse(path, std::strerror(errno));
  check_stat(st, "the file", path);
}

void check_lock_file(const std::string& lock_path, const std::string& path) {
  struct stat st {};
  if (::lstat(lock_path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    refuse(path, "cannot examine its lock file '" + lock_path + "': " + std::strerror(errno));
  }
  if (S_ISLNK(st.st_mode)) {
    refuse(path, "its lock file '" + lock_path +
                     "' is a symbolic link; it is never followed (it could make the store "
                     "overwrite another file). Remove it.");
  }
  if (!S_ISREG(st.st_mode)) refuse(path, "its lock file '" + lock_path + "' is not a regular file");
  check_stat(st, "its lock file '" + lock_path + "'", path);
}

}  // namespace cachette::file
