#include "base/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "base/progress.h"

namespace dx {
namespace fs = std::filesystem;

namespace {

const char kTempTag[] = ".tmp-";

// Writes go to the file a symbolic link points to, so the link stays a link.
std::string resolvedTarget(const std::string& path) {
  std::error_code ec;
  if (!fs::is_symlink(path, ec)) return path;
  fs::path target = fs::read_symlink(path, ec);
  if (ec) return path;
  return (target.is_absolute() ? target : fs::path(path).parent_path() / target).string();
}

std::string uniqueTempName(const std::string& path) {
  // Unique per process and call: two exports to one file may run at once on the app's lane.
  static std::atomic<unsigned> counter{0};
  fs::path target(path);
  return (target.parent_path() / ("." + target.filename().string() + kTempTag +
                                  std::to_string(::getpid()) + "-" + std::to_string(counter++)))
      .string();
}

// The pid in a temporary name ".<name>.tmp-<pid>-<n>", or 0.
pid_t tempOwner(const std::string& name) {
  size_t tag = name.rfind(kTempTag);
  if (name.empty() || name[0] != '.' || tag == std::string::npos) return 0;
  std::string rest = name.substr(tag + sizeof(kTempTag) - 1);
  size_t dash = rest.find('-');
  if (dash == std::string::npos || dash == 0 || dash > 9 || dash + 1 == rest.size()) return 0;
  for (size_t i = 0; i < rest.size(); ++i)
    if (i != dash && (rest[i] < '0' || rest[i] > '9')) return 0;
  return pid_t(std::stol(rest.substr(0, dash)));
}

void syncPath(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) throwWriteError(path, errno);
  int rc = ::fsync(fd);
  int error = errno;
  ::close(fd);
  // Some file systems cannot sync a folder (EINVAL); the rename is still atomic there.
  if (rc != 0 && error != EINVAL) throwWriteError(path, error);
}

void syncParentBestEffort(const std::string& path) {
  // The new file is in place; syncing its folder only makes the rename survive a power cut,
  // so a failure here must not report the write as failed.
  fs::path parent = fs::path(path).parent_path();
  int dirFd = ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirFd >= 0) {
    ::fsync(dirFd);
    ::close(dirFd);
  }
}

}  // namespace

bool processIsGone(int pid) { return pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH; }

void removeStaleTemporaries(const std::string& dir, const std::string& name) {
  std::error_code ec;
  const std::string prefix = "." + name;
  for (const auto& entry : fs::directory_iterator(dir.empty() ? "." : dir, ec)) {
    std::string file = entry.path().filename().string();
    if (!name.empty() && file.rfind(prefix, 0) != 0) continue;
    pid_t owner = tempOwner(file);
    if (owner && owner != ::getpid() && processIsGone(owner)) {
      std::error_code ignored;
      fs::remove(entry.path(), ignored);
    }
  }
}

[[noreturn]] void throwWriteError(const std::string& path, int error) {
  std::string fix = error == ENOSPC || error == EDQUOT || error == EFBIG
                        ? "free disk space (or choose a folder on another disk)"
                        : "choose a folder you can write to";
  throw UserError(path + ": could not be written (" + std::strerror(error) + "). " +
                  "Nothing earlier was changed; " + fix + " and try again.");
}

AtomicFile::AtomicFile(std::string path) : mPath(resolvedTarget(path)), mShownPath(std::move(path)) {
  fs::path parent = fs::path(mPath).parent_path();
  std::error_code ec;
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec) throwWriteError(parent.string(), ec.value());
  removeStaleTemporaries(parent.string(), fs::path(mPath).filename().string());
  mTemp = uniqueTempName(mPath);
  // The replaced file's permissions carry over (a private 0600 file stays private).
  struct stat old {};
  mode_t mode = ::stat(mPath.c_str(), &old) == 0 ? (old.st_mode & 07777) : 0644;
  mFd = ::open(mTemp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (mFd < 0) throwWriteError(mShownPath, errno);
  ::fchmod(mFd, mode);
}

AtomicFile::~AtomicFile() {
  if (mFd >= 0) ::close(mFd);
  if (!mCommitted) ::unlink(mTemp.c_str());
}

void AtomicFile::write(std::string_view bytes) {
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(mFd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      throwWriteError(mShownPath, errno);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

void AtomicFile::commit() {
  if (::fsync(mFd) != 0) throwWriteError(mShownPath, errno);
  int rc = ::close(mFd);
  mFd = -1;
  if (rc != 0) throwWriteError(mShownPath, errno);
  if (::rename(mTemp.c_str(), mPath.c_str()) != 0) throwWriteError(mShownPath, errno);
  mCommitted = true;
  syncParentBestEffort(mPath);
}

void writeFileAtomically(const std::string& path, std::string_view bytes) {
  AtomicFile file(path);
  file.write(bytes);
  file.commit();
}

std::string temporaryPathFor(const std::string& path) {
  removeStaleTemporaries(fs::path(path).parent_path().string(), fs::path(path).filename().string());
  return uniqueTempName(path);
}

void moveIntoPlace(const std::string& temporary, const std::string& path) {
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    int error = errno;
    ::unlink(temporary.c_str());
    throwWriteError(path, error);
  }
  syncParentBestEffort(path);
}

void syncFile(const std::string& path) { syncPath(path, O_RDONLY); }
void syncDirectory(const std::string& dir) { syncPath(dir, O_RDONLY | O_DIRECTORY); }

}  // namespace dx
