#pragma once
// Checks a file store before LMDB maps it (private to src/file).
//
// LMDB trusts its file: a truncated file makes the map fault (SIGBUS) and a damaged page can
// trip one of its assertions (abort). A cache must never take its process down, so before
// mdb_env_open the data file is read with plain pread() (no map) and its B-trees walked page
// by page; anything LMDB could stumble on is reported here instead. The ownership checks
// refuse files that another user could have written (a planted pickle runs code on fetch).

#include <cstdint>
#include <optional>
#include <string>

namespace cachette::file {

/// Why a store cannot be used as it is; nullopt when it can. Reads the file through `fd`.
/// Always checks the meta pages and that the file holds every page they mention (a truncated
/// file faults on access); walks every B-tree page only with `walk_pages`, which needs a
/// store no other process is writing (see ExclusiveUse): writers reuse freed pages in place.
std::optional<std::string> find_damage(int fd, bool walk_pages);

/// Whether no other process has the store open, judged (and kept so while this lives) by
/// LMDB's own first-opener lock on the lock file.
class ExclusiveUse {
 public:
  explicit ExclusiveUse(const std::string& lock_path);
  ~ExclusiveUse();
  ExclusiveUse(const ExclusiveUse&) = delete;
  ExclusiveUse& operator=(const ExclusiveUse&) = delete;
  bool held() const { return held_; }

 private:
  int fd_ = -1;
  bool held_ = false;
};

/// Throws Error(storage) naming `path` unless the file open on `fd` (or the lock file, or
/// the directory) is one only this user (or root) could have written: owned by us or by
/// root, not writable by group or others, not a symbolic link.
void check_ownership(int fd, const std::string& path);

/// The same for a path that may not exist yet (the lock file); refuses symbolic links.
void check_lock_file(const std::string& lock_path, const std::string& path);

}  // namespace cachette::file
