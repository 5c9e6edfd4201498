#include "base/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "base/progress.h"

namespace dx {
namespace fs = std::filesystem;

namespace {

const char kTempTag[] = ".tmp-";

// Writes go to the file a chain of symbolic links ends at, so the links stay links.
std::string resolvedTarget(const std::string& path) {
  std::error_code ec;
  if (!fs::is_symlink(path, ec)) return path;
  fs::path target = fs::weakly_canonical(path, ec);
  return ec ? path : target.string();
}

bool allDigits(const std::string& s) {
  return !s.empty() && s.size() <= 9 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string uniqueTempName(const std::string& path) {
  // Unique per machine, process and call: two exports to one file may run at once on the app's
  // lane, and a shared home may be written from two machines.
  static std::atomic<unsigned> counter{0};
  fs::path target(path);
  return (target.parent_path() / ("." + target.filename().string() + kTempTag + machineName() +
                                  "-" + std::to_string(::getpid()) + "-" +
                                  std::to_string(counter++)))
      .string();
}

// The pid in a temporary name ".<name>.tmp-<host>-<pid>-<n>" made on this machine, or 0.
pid_t tempOwner(const std::string& name) {
  size_t tag = name.rfind(kTempTag);
  if (name.empty() || name[0] != '.' || tag == std::string::npos) return 0;
  std::string rest = name.substr(tag + sizeof(kTempTag) - 1);
  size_t last = rest.rfind('-');
  if (last == std::string::npos || last == 0) return 0;
  size_t middle = rest.rfind('-', last - 1);
  if (middle == std::string::npos) return 0;
  std::string host = rest.substr(0, middle), pid = rest.substr(middle + 1, last - middle - 1);
  if (host != machineName() || !allDigits(pid) || !allDigits(rest.substr(last + 1))) return 0;
  return pid_t(std::stol(pid));
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

std::string machineName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "host";
  std::string host(name);
  for (char& c : host)
    if (c == '/' || c == '-' || c == '.') c = '_';
  return host;
}

bool processIsGone(int pid) { return pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH; }

void removeStaleTemporaries(const std::string& dir, const std::string& name) {
  std::error_code ec;
  const std::string prefix = "." + name;
  for (fs::directory_iterator it(dir.empty() ? "." : dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::string file = it->path().filename().string();
    if (!name.empty() && file.rfind(prefix, 0) != 0) continue;
    pid_t owner = tempOwner(file);
    if (owner && owner != ::getpid() && processIsGone(owner)) {
      std::error_code ignored;
      fs::remove(it->path(), ignored);
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
  // A replaced file's permissions carry over (a private 0600 file stays private); a new file
  // gets the user's umask, as any other program's would.
  struct stat old {};
  const bool replacing = ::stat(mPath.c_str(), &old) == 0;
  mFd = ::open(mTemp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, replacing ? 0600 : 0666);
  if (mFd < 0) throwWriteError(mShownPath, errno);
  if (replacing) ::fchmod(mFd, old.st_mode & 07777);
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
