#pragma once
// Writes that never leave a half-written file looking complete, and say what to do when the
// disk is full. A file is written under a temporary name in its own folder, flushed to the
// disk (fsync), then renamed over the target; rename(2) replaces a name atomically, so a
// reader, a crash or a SIGKILL sees either the previous file or the complete new one.
#include <string>
#include <string_view>

namespace dx {

class AtomicFile {
 public:
  // Opens a temporary file next to `path` (its folder is created). Throws UserError.
  explicit AtomicFile(std::string path);
  // Removes the temporary file unless commit() succeeded: the target keeps its old content.
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(std::string_view bytes);
  // fsync, close, rename over the target, fsync the folder. Throws UserError.
  void commit();
  const std::string& path() const { return mPath; }

 private:
  std::string mPath, mShownPath, mTemp;  // mPath: where a symbolic link `mShownPath` points
  int mFd = -1;
  bool mCommitted = false;
};

// The whole file in one call.
void writeFileAtomically(const std::string& path, std::string_view bytes);

// For writers that make the file themselves (NpyWriter, say): a fresh hidden name next to
// `path`, and the rename that replaces `path` with it (the temp is removed on failure). The
// writer fsyncs the temporary file before moving it (NpyWriter::finish does).
std::string temporaryPathFor(const std::string& path);
void moveIntoPlace(const std::string& temporary, const std::string& path);

// Removes the temporary files (".<name>.tmp-<pid>-<n>") that writers which were killed left in
// `dir`; only those of `name` when it is given. A live writer's files are left alone.
void removeStaleTemporaries(const std::string& dir, const std::string& name = "");
// True when no process `pid` exists on this machine.
bool processIsGone(int pid);
// This machine's host name, usable inside a file name ('-', '.', '/' replaced by '_').
std::string machineName();

// Flushes a file's or a folder's data to the disk; throws UserError naming `path`.
void syncFile(const std::string& path);
void syncDirectory(const std::string& dir);

// The message for a failed write: the file, the system's reason and the fix.
[[noreturn]] void throwWriteError(const std::string& path, int error);

}  // namespace dx
