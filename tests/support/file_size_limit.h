#pragma once
// A full disk, injected: while a FileSizeLimit lives, the kernel refuses to grow any file of
// this process past `bytes` (RLIMIT_FSIZE; write(2) fails with EFBIG, as a full disk fails it
// with ENOSPC). No root, no tmpfs, and every writer's real code path runs.
#include <signal.h>
#include <sys/resource.h>

#include <cstddef>

namespace dx::test {

class FileSizeLimit {
 public:
  explicit FileSizeLimit(size_t bytes) {
    getrlimit(RLIMIT_FSIZE, &mPrevious);
    mPreviousHandler = signal(SIGXFSZ, SIG_IGN);  // else the process is killed, not the write
    rlimit limit = mPrevious;
    limit.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &mPrevious);
    signal(SIGXFSZ, mPreviousHandler);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit mPrevious{};
  sighandler_t mPreviousHandler = SIG_DFL;
};

}  // namespace dx::test
