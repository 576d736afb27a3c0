#include "cachette/detail/file_lmdb_env.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <tuple>
#include <utility>

#include "cachette/detail/file_format.hpp"
#include "cachette/detail/file_store_check.hpp"

namespace cachette::file {
namespace {

// Bumped in the child after fork(): an environment opened before the fork belongs to the
// parent (its reader slots carry the parent's pid, its locks are not inherited).
std::atomic<std::uint64_t> g_fork_generation{0};
std::once_flag g_atfork_once;

void on_fork_child() {
  g_fork_generation.fetch_add(1, std::memory_order_relaxed);
}

// LMDB data files begin with a meta page: a 16-byte page header, then MDB_meta whose
// first fields are mm_magic (0xBEEFC0DE) and mm_version (1 for LMDB 0.9).
constexpr std::uint32_t kLmdbMagic = 0xBEEFC0DE;
constexpr std::uint32_t kLmdbDataVersion = 1;
constexpr std::size_t kLmdbMetaOffset = 16;
constexpr unsigned kMaxReaders = 1022;
// LMDB's lock file begins with MDB_txninfo: its magic (the data file's) and format, the
// reader mutex and counters in the first 64-byte cache line, the writer mutex at the start
// of the second (lmdb 0.9, POSIX robust mutexes). Checked before use: see
// locate_writer_mutex().
constexpr std::size_t kWriterMutexOffset = 64;
constexpr std::size_t kLockHeaderBytes = 4096;
constexpr std::size_t kMaxIdleReaders = 64;
constexpr std::uint64_t kMaxMapSize = 1ull << 42;
constexpr const char* kDatabaseNames[] = {"entries", "expiry", "meta"};

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw Error(Errc::storage, "file store '" + path + "': " + problem);
}

std::string parent_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Refuses locations that cannot hold the store, before anything is created there.
void check_location(const std::string& path) {
  if (path.empty()) fail(path, "the path is empty");
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) fail(path, std::strerror(errno));
    const std::string parent = parent_of(path);
    struct stat pst {};
    if (stat(parent.c_str(), &pst) != 0) {
      fail(path, "cannot use directory '" + parent + "': " + std::strerror(errno));
    }
    if (!S_ISDIR(pst.st_mode)) fail(path, "'" + parent + "' is not a directory");
    return;
  }
  if (S_ISDIR(st.st_mode)) fail(path, "is a directory; pickle_path must name a file");
  if (!S_ISREG(st.st_mode)) fail(path, "is not a regular file");
  struct stat lst {};
  if (lstat(path.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
    fail(path,
         "is a symbolic link; name the file itself (links are never followed, so that "
         "a planted link cannot make the store overwrite another file)");
  }
}

// A file that is neither empty nor an LMDB data file must never reach mdb_env_open. Runs
// under the data file's flock, so a store being created by another process (which holds
// the flock until its meta pages are written) is never mistaken for a foreign file.
void check_header(int fd, const std::string& path) {
  struct stat st {};
  if (fstat(fd, &st) != 0) fail(path, std::strerror(errno));
  if (st.st_size == 0) return;  // new, or created but never initialised: nothing to lose
  unsigned char head[kLmdbMetaOffset + 8] = {};
  ssize_t n = ::pread(fd, head, sizeof head, 0);
  std::uint32_t magic = 0, version = 0;
  if (n == static_cast<ssize_t>(sizeof head)) {
    std::memcpy(&magic, head + kLmdbMetaOffset, 4);
    std::memcpy(&version, head + kLmdbMetaOffset + 4, 4);
  }
  if (magic != kLmdbMagic || version != kLmdbDataVersion) {
    fail(path,
         "exists and is not a cachette file store (no LMDB header; a pickle file from "
         "cachette 0.1.x, perhaps). It was left untouched: move it away or choose another "
         "pickle_path.");
  }
}

// With MDB_WRITEMAP, mdb_env_open truncates the file to the map size before we can look
// inside, so an existing LMDB file is first opened read-only (no truncation, no writes) to
// check that it holds a cachette store: only our three databases and our format record.
void check_lmdb_contents(const std::string& path, std::uint64_t file_size) {
  MDB_env* env = nullptr;
  if (mdb_env_create(&env) != 0) fail(path, "cannot create an LMDB environment");
  struct CloseEnv {
    MDB_env* env;
    ~CloseEnv() { mdb_env_close(env); }
  } close_env{env};
  mdb_env_set_maxdbs(env, 3);
  mdb_env_set_mapsize(env, std::max<std::uint64_t>(file_size, 1ull << 20));
  int rc = mdb_env_open(env, path.c_str(), MDB_NOSUBDIR | MDB_RDONLY | MDB_NOTLS, 0600);
  if (rc != 0) {
    fail(path, std::string("is not a usable LMDB file (") + mdb_strerror(rc) +
                   "); it was left untouched");
  }
  MDB_txn* txn = nullptr;
  if (mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) != 0) fail(path, "cannot read it");
  struct AbortTxn {
    MDB_txn* txn;
    ~AbortTxn() { mdb_txn_abort(txn); }
  } abort_txn{txn};
  MDB_dbi main_db = 0;
  if (mdb_dbi_open(txn, nullptr, 0, &main_db) != 0) fail(path, "cannot read it");
  MDB_cursor* cursor = nullptr;
  if (mdb_cursor_open(txn, main_db, &cursor) != 0) fail(path, "cannot read it");
  MDB_val k, v;
  bool any = false, foreign = false;
  for (int op = MDB_FIRST; mdb_cursor_get(cursor, &k, &v, static_cast<MDB_cursor_op>(op)) == 0;
       op = MDB_NEXT) {
    bool ours = false;
    for (const char* name : kDatabaseNames) ours = ours || as_view(k) == name;
    foreign = foreign || !ours;
    any = true;
  }
  mdb_cursor_close(cursor);
  MDB_dbi meta = 0;
  std::uint32_t version = 0;
  if (!foreign && any) {
    MDB_val fk = as_val("format"), fv;
    if (mdb_dbi_open(txn, "meta", 0, &meta) == 0 && mdb_get(txn, meta, &fk, &fv) == 0 &&
        fv.mv_size == sizeof version) {
      std::memcpy(&version, fv.mv_data, sizeof version);
    }
    foreign = version == 0;
  }
  if (foreign) fail(path, "is an LMDB file of another application; it was left untouched");
  if (any && version != kFormatVersion) {
    fail(path, "was written by an incompatible version of cachette (format " +
                   std::to_string(version) + ")");
  }
}

std::uint64_t round_up(std::uint64_t n, std::uint64_t unit) {
  return (n + unit - 1) / unit * unit;
}

// Serialises everything that may resize the data file across processes. With MDB_WRITEMAP,
// LMDB truncates the file to the map size on every (re)map; taking the largest of the file's
// size and ours under this lock means no process ever shrinks the file under another.
class FileLock {
 public:
  FileLock(int fd, const std::string& path) : fd_(fd) {
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) fail(path, std::string("cannot lock: ") + std::strerror(errno));
    }
  }
  ~FileLock() { ::flock(fd_, LOCK_UN); }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

// The map size to use under a FileLock: at least `wanted`, never less than the file, with
// the disk blocks reserved so that a full disk is an error here rather than a SIGBUS when
// a write touches the map (KEEP_SIZE: a new, empty file stays empty for LMDB to initialise).
// A file system out of room (ENOSPC, a quota, or RLIMIT_FSIZE's EFBIG) is Error(store_full).
std::uint64_t reserve(int fd, std::uint64_t wanted, const std::string& path) {
  struct stat st {};
  if (fstat(fd, &st) != 0) fail(path, std::strerror(errno));
  const std::uint64_t size =
      round_up(std::max(wanted, static_cast<std::uint64_t>(st.st_size)), 1ull << 20);
  // LMDB extends the file with ftruncate after unmapping the old map, and cannot recover
  // when that fails: a size over the process's file size limit is refused here instead.
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
      size > limit.rlim_cur && size > static_cast<std::uint64_t>(st.st_size)) {
    throw Error(Errc::store_full, "file store '" + path + "' is full: " + std::to_string(size) +
                                      " bytes is over the process's file size limit "
                                      "(RLIMIT_FSIZE). Entries can still be read and removed "
                                      "(flush, clear).");
  }
  if (::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(size)) != 0 &&
      errno != EOPNOTSUPP && errno != ENOSYS) {
    const int error = errno;
    const std::string problem =
        "cannot reserve " + std::to_string(size) + " bytes: " + std::strerror(error);
    if (error == ENOSPC || error == EDQUOT || error == EFBIG) {
      throw Error(Errc::store_full, "file store '" + path + "' is full: " + problem +
                                        ". Entries can still be read and removed (flush, clear).");
    }
    fail(path, problem);
  }
  return size;
}

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// How long a refused growth is not tried again.
constexpr std::int64_t kGrowthRetryNs = 1'000'000'000;
// Pages a write that stores data may need beyond its record (tree paths, eviction, index).
constexpr std::uint64_t kPagesPerWrite = 16;

// Identifies a file by its directory's real path, so that "a/../x" and "x" meet.
std::string identity_of(const std::string& path) {
  const std::string parent = parent_of(path);
  char* real = ::realpath(parent.c_str(), nullptr);
  if (real == nullptr) return path;
  std::string out(real);
  std::free(real);
  auto slash = path.find_last_of('/');
  return out + "/" + (slash == std::string::npos ? path : path.substr(slash + 1));
}

std::mutex g_open_mutex;
std::map<std::string, std::weak_ptr<Environment>>& open_environments() {
  static auto* environments = new std::map<std::string, std::weak_ptr<Environment>>();
  return *environments;
}

}  // namespace

std::shared_ptr<Environment> Environment::open(const std::string& path,
                                               std::uint64_t initial_map_size, bool strict) {
  std::lock_guard lock(g_open_mutex);
  auto& environments = open_environments();
  const std::string id = identity_of(path);
  if (auto it = environments.find(id); it != environments.end()) {
    // A damaged environment is not shared: opening again is how a process recovers (the
    // new environment moves the damaged file aside, so it never opens the same inode).
    if (auto env = it->second.lock(); env && env->opened_in_this_process() && !env->damaged()) {
      return env;
    }
  }
  auto env = std::make_shared<Environment>(path, initial_map_size, strict);
  environments[id] = env;
  for (auto it = environments.begin(); it != environments.end();) {
    it = it->second.expired() ? environments.erase(it) : std::next(it);
  }
  return env;
}

bool Environment::opened_in_this_process() const {
  return g_fork_generation.load(std::memory_order_relaxed) == fork_generation_;
}

void check(int rc, const char* what) {
  if (rc == 0) return;
  if (rc == MDB_MAP_FULL) throw MapFull{};
  const std::string message = std::string("file store: cannot ") + what + ": " + mdb_strerror(rc);
  if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_PAGE_FULL || rc == MDB_BAD_TXN) {
    throw Damaged(message);
  }
  throw Error(Errc::storage, message);
}

std::string Environment::take_recovery_note() {
  std::lock_guard lock(idle_mutex_);
  return std::exchange(recovery_note_, std::string());
}

void Environment::mark_damaged(const Damaged& e) {
  damaged_.store(true, std::memory_order_relaxed);
  std::lock_guard lock(idle_mutex_);
  if (damage_.empty()) damage_ = e.what();
}

void Environment::rethrow_noting_damage(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const Damaged& e) {
    mark_damaged(e);
    throw;
  }
}

void Environment::lost_map(MDB_txn* txn) {
  faulted_.store(true, std::memory_order_release);
  if (txn != nullptr) {
    // Releases the writer lock or the reader slot, when the lock file still holds them.
    auto abort_txn = [txn] { mdb_txn_abort(txn); };
    guarded(abort_txn);
  }
  fail(path_,
       "was cut short while in use (SIGBUS: the file was truncated or its pages became "
       "unreadable); its entries are lost, and the next operation opens the store again");
}

void Environment::lost_write() {
  faulted_.store(true, std::memory_order_release);
  if (writer_mutex_ != nullptr) {
    auto release = [this] {
      // Only while this thread holds it: a commit that got as far as ending its
      // transaction has released it already.
      if (writer_mutex_->__data.__owner == static_cast<int>(::gettid())) {
        pthread_mutex_unlock(writer_mutex_);
      }
    };
    guarded(release);
  }
  fail(path_,
       "was cut short while in use (SIGBUS: the file was truncated or its pages became "
       "unreadable); its entries are lost, and the next operation opens the store again");
}

void Environment::locate_writer_mutex() {
  const std::string lock_path = path_ + "-lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return;
  // The descriptor stays open as long as LMDB's: closing any descriptor of a file drops
  // every POSIX lock the process holds on it, LMDB's own included.
  void* map = ::mmap(nullptr, kLockHeaderBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    lock_fd_ = fd;  // closed with the environment, for the same reason
    return;
  }
  auto* base = static_cast<unsigned char*>(map);
  std::uint32_t magic = 0;
  std::memcpy(&magic, base, sizeof magic);
  auto* mutex = reinterpret_cast<pthread_mutex_t*>(base + kWriterMutexOffset);
  lock_fd_ = fd;
  if (magic == kLmdbMagic && mutex->__data.__owner == static_cast<int>(::gettid())) {
    lock_map_ = map;
    writer_mutex_ = mutex;
  } else {
    ::munmap(map, kLockHeaderBytes);
  }
}

void Environment::recover() {
  std::unique_lock lock(resize_mutex_);
  if (!faulted_.load(std::memory_order_acquire)) return;  // another thread did it
  install_fault_handler();  // again, in case another handler replaced ours since
  if (env_ != nullptr) {
    mdb_filehandle_t fd = -1;
    struct stat mapped {};
    if (mdb_env_get_fd(env_, &fd) == 0 && fd >= 0 && fstat(fd, &mapped) == 0) {
      // Under the old file's flock, so that of several processes recovering at once only
      // the first moves it aside (the others then find another file at the path).
      FileLock flock(fd, path_);
      struct stat now {};
      if (::stat(path_.c_str(), &now) == 0 && now.st_dev == mapped.st_dev &&
          now.st_ino == mapped.st_ino) {
        if (strict_) {
          faulted_.store(false, std::memory_order_release);
          mark_damaged(Damaged("it was truncated while in use (pickle_strict: left untouched)"));
          return;
        }
        move_aside("it was truncated while in use");
      }
    }
    close_environment();
  }
  open_environment();
  faulted_.store(false, std::memory_order_release);
}

void Environment::ensure_usable() {
  if (faulted_.load(std::memory_order_acquire)) recover();
  if (!damaged_.load(std::memory_order_relaxed)) return;
  std::string why;
  {
    std::lock_guard lock(idle_mutex_);
    why = damage_;
  }
  fail(path_, "was found damaged (" + why +
                  "); this process no longer uses it. Configure the cache again "
                  "(load_config) to move it aside and start a fresh store.");
}

Environment::Environment(const std::string& path, std::uint64_t initial_map_size, bool strict)
    : path_(path), initial_map_size_(initial_map_size), strict_(strict) {
  std::call_once(g_atfork_once, [] { pthread_atfork(nullptr, nullptr, on_fork_child); });
  fork_generation_ = g_fork_generation.load(std::memory_order_relaxed);
  install_fault_handler();
  open_environment();
}

void Environment::open_environment() {
  for (int attempt = 0;; ++attempt) {
    if (open_checked(initial_map_size_, strict_)) break;
    if (attempt == 1) fail(path_, "cannot start a fresh store in place of a damaged one");
  }
  int dead = 0;
  mdb_reader_check(env_, &dead);  // slots of processes killed while reading
  MDB_envinfo info{};
  mdb_env_info(env_, &info);
  mapped_size_ = info.me_mapsize;
  MDB_stat stat{};
  if (mdb_env_stat(env_, &stat) == 0 && stat.ms_psize != 0) page_size_ = stat.ms_psize;
  try {
    open_databases();
  } catch (...) {
    close_environment();
    throw;
  }
}

void Environment::close_environment() {
  auto close = [this] {
    drop_idle_readers();
    mdb_env_close(env_);
  };
  guarded(close);  // cut short by a fault: what is left of the environment leaks
  env_ = nullptr;
  if (lock_map_ != nullptr) ::munmap(lock_map_, kLockHeaderBytes);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // after LMDB closed its own: no lock of ours left
  lock_map_ = nullptr;
  writer_mutex_ = nullptr;
  lock_fd_ = -1;
}

bool Environment::open_checked(std::uint64_t initial_map_size, bool strict) {
  check_location(path_);
  const std::string lock_path = path_ + "-lock";
  check_lock_file(lock_path, path_);
  // Our own descriptor on the data file, for the header check and the flock around
  // mdb_env_open. LMDB keeps its POSIX locks on the lock file only, so closing this is safe.
  const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 && errno == ELOOP) {
    fail(path_, "is a symbolic link; name the file itself (links are never followed)");
  }
  if (fd < 0) fail(path_, std::string("cannot open: ") + std::strerror(errno));
  struct CloseFd {
    int fd;
    ~CloseFd() { ::close(fd); }
  } close_fd{fd};
  FileLock lock(fd, path_);
  check_ownership(fd, path_);
  check_header(fd, path_);
  std::optional<std::string> damage;
  {
    // Every page is walked only when no other process has the store open; otherwise its
    // writers may be reusing pages as we read, and only the meta pages and the file's
    // length are checked (damage inside is then caught by LMDB's checks, see ensure_usable).
    // (Environment::open shares one environment per file within a process, so the POSIX
    // locks this drops on close are never those of a healthy environment of ours.)
    const ExclusiveUse exclusive(lock_path);
    damage = find_stable_damage(fd, exclusive.held());
  }
  if (damage) {
    if (strict) {
      fail(path_, "is damaged: " + *damage +
                      ". It was left untouched (pickle_strict is on); move it away to start a "
                      "fresh store.");
    }
    move_aside(*damage);
    return false;  // the descriptor and its flock belong to the moved file: start again
  }
  // LMDB creates the lock file with O_CREAT, following links: create it ourselves first.
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock_fd < 0) {
    fail(path_, "cannot open its lock file '" + lock_path + "': " + std::strerror(errno));
  }
  ::close(lock_fd);
  check_lock_file(lock_path, path_);
  struct stat st {};
  if (fstat(fd, &st) == 0 && st.st_size > 0) {
    check_lmdb_contents(path_, static_cast<std::uint64_t>(st.st_size));
  }

  int rc = mdb_env_create(&env_);
  if (rc != 0) fail(path_, mdb_strerror(rc));
  rc = mdb_env_set_maxdbs(env_, 3);
  if (rc == 0) rc = mdb_env_set_maxreaders(env_, kMaxReaders);
  if (rc == 0) rc = mdb_env_set_mapsize(env_, reserve(fd, initial_map_size, path_));
  // WRITEMAP: commits write pages in place instead of one pwrite per page (2-3x faster
  // puts); see FileLock and reserve() for the two hazards it brings and how they are met.
  // NOSYNC: a commit is complete once in the page cache, which every process shares, so a
  // killed process loses nothing it committed; only an OS crash can lose recent commits.
  constexpr unsigned kFlags =
      MDB_WRITEMAP | MDB_NOSUBDIR | MDB_NOTLS | MDB_NOSYNC | MDB_NOMETASYNC | MDB_NORDAHEAD;
  if (rc == 0) rc = mdb_env_open(env_, path_.c_str(), kFlags, 0600);
  if (rc != 0) {
    mdb_env_close(env_);
    env_ = nullptr;
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) {
      fail(path_, std::string("is not a usable LMDB file (") + mdb_strerror(rc) +
                      "); it was left untouched");
    }
    fail(path_, std::string("cannot open: ") + mdb_strerror(rc));
  }
  return true;
}

std::optional<std::string> Environment::find_stable_damage(int fd, bool walk_pages) const {
  // Writers in other processes do not take our flock, and pages an old snapshot used may be
  // reused while we read: damage counts only when the store did not change meanwhile.
  for (int attempt = 0; attempt < 8; ++attempt) {
    struct stat before {};
    fstat(fd, &before);
    auto damage = find_damage(fd, walk_pages);
    if (!damage) return std::nullopt;
    struct stat after {};
    fstat(fd, &after);
    if (before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
        before.st_mtim.tv_nsec == after.st_mtim.tv_nsec && before.st_size == after.st_size &&
        find_damage(fd, walk_pages) == damage) {
      return damage;
    }
    ::usleep(20000);
  }
  return find_damage(fd, walk_pages);
}

void Environment::move_aside(const std::string& damage) {
  char stamp[32] = {};
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  const std::string aside = path_ + ".damaged-" + stamp + "-" + std::to_string(::getpid());
  if (::rename(path_.c_str(), aside.c_str()) != 0) {
    fail(path_, "is damaged (" + damage + ") and cannot be moved aside: " + std::strerror(errno));
  }
  // The lock file describes the old data file's readers: it goes too (processes that still
  // have the old store open keep their descriptors on both).
  const std::string lock = path_ + "-lock";
  if (::rename(lock.c_str(), (aside + "-lock").c_str()) != 0 && errno != ENOENT) {
    ::unlink(lock.c_str());
  }
  std::lock_guard note_lock(idle_mutex_);
  recovery_note_ = "file store '" + path_ + "' was damaged (" + damage + "); it was moved to '" +
                   aside + "' and a fresh, empty store was started";
}

Environment::~Environment() {
  if (env_ == nullptr) return;
  if (!opened_in_this_process() || map_lost_.load(std::memory_order_relaxed)) {
    // A forked child: closing would clear the parent's reader slots. A lost map: closing
    // would unmap an address LMDB no longer owns. Leak instead.
    return;
  }
  close_environment();
}

void Environment::open_databases() {
  // One plain transaction: a store just opened has room, and recover() calls this with
  // resize_mutex_ held, where write() cannot run.
  MDB_txn* txn = nullptr;
  for (;;) {
    const int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    if (rc != MDB_MAP_RESIZED) {
      check(rc, "begin a write transaction");
      break;
    }
    remap(mapped_size_);  // another process grew the file since we mapped it
  }
  struct AbortUnlessCommitted {
    MDB_txn*& txn;
    ~AbortUnlessCommitted() {
      if (txn != nullptr) mdb_txn_abort(txn);
    }
  } abort_unless_committed{txn};
  auto [entries, expiry, meta] = [&] {
    MDB_dbi main_db = 0;
    check(mdb_dbi_open(txn, nullptr, 0, &main_db), "open the main database");
    MDB_cursor* cursor = nullptr;
    check(mdb_cursor_open(txn, main_db, &cursor), "open a cursor");
    MDB_val k, v;
    bool foreign = false;
    for (int op = MDB_FIRST; mdb_cursor_get(cursor, &k, &v, static_cast<MDB_cursor_op>(op)) == 0;
         op = MDB_NEXT) {
      bool ours = false;
      for (const char* name : kDatabaseNames) ours = ours || as_view(k) == name;
      foreign = foreign || !ours;
    }
    mdb_cursor_close(cursor);
    if (foreign) {
      fail(path_, "is an LMDB file of another application; it was left untouched");
    }
    MDB_dbi dbis[3];
    for (int i = 0; i < 3; ++i) {
      check(mdb_dbi_open(txn, kDatabaseNames[i], MDB_CREATE, &dbis[i]), "open a database");
    }
    MDB_val fk = as_val("format"), fv;
    int rc = mdb_get(txn, dbis[2], &fk, &fv);
    if (rc == 0) {
      std::uint32_t version = 0;
      if (fv.mv_size == sizeof version) std::memcpy(&version, fv.mv_data, sizeof version);
      if (version != kFormatVersion) {
        fail(path_, "was written by an incompatible version of cachette (format " +
                        std::to_string(version) + ")");
      }
    } else if (rc == MDB_NOTFOUND) {
      std::uint32_t version = kFormatVersion;
      MDB_val nv{sizeof version, &version};
      check(mdb_put(txn, dbis[2], &fk, &nv, 0), "write the format record");
    } else {
      check(rc, "read the format record");
    }
    return std::tuple{dbis[0], dbis[1], dbis[2]};
  }();
  if (lock_fd_ < 0) locate_writer_mutex();  // this thread holds the writer lock now
  check(mdb_txn_commit(std::exchange(txn, nullptr)), "commit");
  entries_ = entries;
  expiry_ = expiry;
  meta_ = meta;
}

std::uint64_t Environment::map_size() {
  if (map_lost_.load(std::memory_order_relaxed)) return 0;
  std::shared_lock lock(resize_mutex_);
  return mapped_size_;
}

void Environment::ensure_same_process() const {
  if (!opened_in_this_process()) {
    fail(path_,
         "was opened before this process was forked and cannot be used in the child; "
         "open it again in this process");
  }
}

int Environment::begin_read(MDB_txn*& txn) {
  {
    std::lock_guard lock(idle_mutex_);
    if (!idle_readers_.empty()) {
      txn = idle_readers_.back();
      idle_readers_.pop_back();
    }
  }
  if (txn != nullptr) {
    int rc = mdb_txn_renew(txn);
    if (rc == 0) return 0;
    mdb_txn_abort(txn);
    txn = nullptr;
    if (rc == MDB_MAP_RESIZED) return rc;
  }
  int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
  if (rc == MDB_READERS_FULL) {
    int dead = 0;
    mdb_reader_check(env_, &dead);  // free the slots of killed processes, then retry once
    rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
  }
  return rc;
}

void Environment::end_read(MDB_txn* txn) {
  mdb_txn_reset(txn);
  {
    std::lock_guard lock(idle_mutex_);
    if (idle_readers_.size() < kMaxIdleReaders) {
      idle_readers_.push_back(txn);
      return;
    }
  }
  mdb_txn_abort(txn);
}

void Environment::drop_idle_readers() {
  std::vector<MDB_txn*> idle;
  {
    std::lock_guard lock(idle_mutex_);
    idle.swap(idle_readers_);
  }
  // Outside the lock: aborting touches the lock file's map, which a fault may cut short.
  for (MDB_txn* txn : idle) mdb_txn_abort(txn);
}

void Environment::adopt_map_size() {
  std::unique_lock lock(resize_mutex_);
  remap(mapped_size_);
}

void Environment::grow_map(std::uint64_t full_at) {
  std::unique_lock lock(resize_mutex_);
  if (mapped_size_ != full_at) return;  // another thread grew it meanwhile
  if (full_at >= kMaxMapSize) {
    throw Error(Errc::store_full, "file store '" + path_ + "' cannot grow past 4 TiB");
  }
  auto check_readers = [this] {
    int dead = 0;
    mdb_reader_check(env_, &dead);  // stale readers pin pages that could be reused
  };
  if (!guarded(check_readers)) lost_map(nullptr);
  // Doubling up to 1 GiB, then steps of a quarter, so that the file stays near what the
  // entries need; when the file system refuses a step, smaller ones are tried.
  const std::uint64_t step = full_at < (1ull << 30) ? full_at : full_at / 4;
  const std::uint64_t steps[] = {step, full_at / 8, 2 * reserve_pages() * page_size_};
  for (std::size_t i = 0;; ++i) {
    try {
      remap(full_at + std::max<std::uint64_t>(steps[i], 1ull << 20));
      no_growth_until_.store(0, std::memory_order_relaxed);
      return;
    } catch (const Error& e) {
      if (e.code() != Errc::store_full || i + 1 == std::size(steps)) {
        if (e.code() == Errc::store_full) {
          no_growth_until_.store(steady_ns() + kGrowthRetryNs, std::memory_order_relaxed);
        }
        throw;
      }
    }
  }
}

std::uint64_t Environment::reserve_pages() const {
  // Emptying the store frees every page; LMDB records their numbers (8 bytes each) in one
  // free-list record written in the same transaction, from pages it must find free: a
  // 512th of the map, doubled, plus the pages a few tree paths take.
  return mapped_size_ / page_size_ / 256 + 32;
}

bool Environment::tail_has_room(std::uint64_t stored_bytes) {
  MDB_envinfo info{};
  mdb_env_info(env_, &info);
  const std::uint64_t pages = mapped_size_ / page_size_;
  const std::uint64_t used = static_cast<std::uint64_t>(info.me_last_pgno) + 1;
  const std::uint64_t tail = pages > used ? pages - used : 0;
  return tail >= reserve_pages() + stored_bytes / page_size_ + kPagesPerWrite;
}

bool Environment::make_room(std::uint64_t full_at, std::uint64_t stored_bytes) {
  if (steady_ns() >= no_growth_until_.load(std::memory_order_relaxed)) {
    try {
      grow_map(full_at);
      return true;
    } catch (const Error& e) {
      if (e.code() != Errc::store_full) throw;
    }
  }
  // The map cannot grow: the write may still run on pages freed by earlier transactions
  // (LMDB takes those before the tail), as long as the reserve at the tail stays whole.
  const std::uint64_t needed = stored_bytes / page_size_ + kPagesPerWrite;
  std::uint64_t tail = 0;
  {
    std::shared_lock lock(resize_mutex_);
    MDB_envinfo info{};
    auto read_info = [&] { mdb_env_info(env_, &info); };
    if (!guarded(read_info)) lost_map(nullptr);
    const std::uint64_t pages = mapped_size_ / page_size_;
    const std::uint64_t used = static_cast<std::uint64_t>(info.me_last_pgno) + 1;
    tail = pages > used ? pages - used : 0;
    if (tail < reserve_pages())
      tail = 0;
    else
      tail -= reserve_pages();
  }
  if (tail + free_list_pages() >= needed) return false;
  throw Error(Errc::store_full,
              "file store '" + path_ +
                  "' is full: the file system has no room to grow it and the free pages "
                  "left are kept for removals. Entries can still be read and removed "
                  "(flush, clear); writes work again once entries are removed or the disk "
                  "has room.");
}

std::uint64_t Environment::free_list_pages() {
  return read([](MDB_txn* txn) {
    MDB_cursor* cursor = nullptr;
    check(mdb_cursor_open(txn, 0, &cursor), "read the free list");  // 0: LMDB's FREE_DBI
    std::uint64_t total = 0;
    MDB_val k, v;
    for (int op = MDB_FIRST; mdb_cursor_get(cursor, &k, &v, static_cast<MDB_cursor_op>(op)) == 0;
         op = MDB_NEXT) {
      // Each record is a list of page numbers whose first element is its length.
      std::size_t count = 0;
      if (v.mv_size >= sizeof count) std::memcpy(&count, v.mv_data, sizeof count);
      total += count;
    }
    mdb_cursor_close(cursor);
    return total;
  });
}

void Environment::remap(std::uint64_t wanted) {
  auto drop = [this] { drop_idle_readers(); };
  if (!guarded(drop)) lost_map(nullptr);
  mdb_filehandle_t fd = -1;
  check(mdb_env_get_fd(env_, &fd), "get the data file");
  FileLock lock(fd, path_);
  // Another process may have grown the file further: its size wins (never shrink it).
  const std::uint64_t target = reserve(fd, wanted, path_);
  int rc = 0;
  auto set_size = [&] { rc = mdb_env_set_mapsize(env_, target); };  // reads the meta page
  if (!guarded(set_size)) lost_map(nullptr);
  if (rc != 0) {
    // LMDB has unmapped the old map and keeps a dangling address: nothing may touch this
    // environment again, not even mdb_env_close (see ~Environment).
    map_lost_.store(true, std::memory_order_relaxed);
    mark_damaged(Damaged("file store: cannot map " + std::to_string(target) +
                         " bytes: " + mdb_strerror(rc)));
    fail(path_, "cannot map " + std::to_string(target) + " bytes: " + mdb_strerror(rc));
  }
  MDB_envinfo info{};
  mdb_env_info(env_, &info);
  mapped_size_ = info.me_mapsize;
}

}  // namespace cachette::file
