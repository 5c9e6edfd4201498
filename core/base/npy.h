#pragma once
// NumPy .npy files (format version 1.0), so every cache file opens with numpy.load(mmap_mode='r').
// Writing streams rows to disk (memory stays bounded for arrays larger than RAM); reading maps
// the file read-only.
#include <cstdint>
#include <string>
#include <vector>

namespace dx {

// dtype descriptors used by Directrix, as numpy spells them.
namespace npy {
inline const char* float32 = "<f4";
inline const char* float16 = "<f2";
inline const char* int64 = "<i8";
inline const char* int32 = "<i4";
inline const char* uint8 = "|u1";
inline const char* boolean = "|b1";  // numpy bool: one byte, 0 or 1
size_t itemSize(const std::string& descr);
}  // namespace npy

class NpyWriter {
 public:
  // Creates `path` for an array of `shape` (shape[0] = the maximum row count). Throws UserError
  // naming `shownPath` (the file the user knows, when `path` is a temporary one) or `path`.
  NpyWriter(const std::string& path, const std::string& descr, std::vector<size_t> shape,
            const std::string& shownPath = "");
  ~NpyWriter();
  NpyWriter(const NpyWriter&) = delete;
  NpyWriter& operator=(const NpyWriter&) = delete;

  size_t rowBytes() const { return mRowBytes; }
  // Writes `count` consecutive rows starting at row `first`.
  void writeRows(size_t first, size_t count, const void* data);
  // Sets the final row count (<= the capacity), rewrites the header, truncates and closes.
  void finish(size_t rows);

 private:
  std::string mPath, mDescr;
  std::vector<size_t> mShape;
  size_t mRowBytes = 0, mHeaderBytes = 0;
  int mFd = -1;
};

// Read-only memory map of an .npy file.
class NpyMap {
 public:
  explicit NpyMap(const std::string& path);  // throws UserError on a missing or malformed file
  ~NpyMap();
  NpyMap(const NpyMap&) = delete;
  NpyMap& operator=(const NpyMap&) = delete;

  const std::string& path() const { return mPath; }
  const std::string& descr() const { return mDescr; }
  const std::vector<size_t>& shape() const { return mShape; }
  size_t rows() const { return mShape.empty() ? 1 : mShape[0]; }
  size_t rowBytes() const { return mRowBytes; }
  const uint8_t* data() const { return mData; }
  const uint8_t* row(size_t i) const { return mData + i * mRowBytes; }

 private:
  void parseHeader(const std::string& path);

  std::string mPath, mDescr;
  std::vector<size_t> mShape;
  size_t mRowBytes = 0, mMapBytes = 0;
  void* mMap = nullptr;
  const uint8_t* mData = nullptr;
};

// Small whole-array helpers; writeNpy replaces `path` atomically (base/atomic_file.h).
void writeNpy(const std::string& path, const std::string& descr, const std::vector<size_t>& shape,
              const void* data);
std::vector<float> readNpyFloat32(const std::string& path, std::vector<size_t>* shape = nullptr);

}  // namespace dx
