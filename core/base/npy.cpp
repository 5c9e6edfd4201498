#include "base/npy.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "base/atomic_file.h"
#include "base/progress.h"

namespace dx {
namespace {

const char kMagic[] = "\x93NUMPY";

std::string shapeText(const std::vector<size_t>& shape) {
  std::string s = "(";
  for (size_t d : shape) s += std::to_string(d) + ", ";
  if (shape.size() > 1) s.erase(s.size() - 2);
  else if (shape.size() == 1) s.erase(s.size() - 1);
  return s + ")";
}

// Header dict padded with spaces so data starts at a multiple of 64 bytes; `total` fixes the
// size so the header can be rewritten in place with a smaller row count.
std::string header(const std::string& descr, const std::vector<size_t>& shape, size_t total) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " +
                     shapeText(shape) + ", }";
  size_t minimum = 10 + dict.size() + 1;
  if (total == 0) total = (minimum + 63) / 64 * 64;
  dict.append(total - minimum, ' ');
  dict += '\n';
  std::string h(kMagic, 6);
  h += '\x01';
  h += '\x00';
  uint16_t len = static_cast<uint16_t>(dict.size());
  h += static_cast<char>(len & 0xff);
  h += static_cast<char>(len >> 8);
  return h + dict;
}

size_t product(const std::vector<size_t>& v, size_t from) {
  size_t p = 1;
  for (size_t i = from; i < v.size(); ++i) p *= v[i];
  return p;
}

void writeAll(int fd, const void* data, size_t bytes, off_t offset, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t n = pwrite(fd, p, bytes, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      throwWriteError(path, errno);
    }
    p += n;
    bytes -= static_cast<size_t>(n);
    offset += n;
  }
}

// The text between `open` and `close` after 'key': in a header dict; false when absent.
bool dictValue(const std::string& dict, const std::string& key, char open, char close,
               std::string* value) {
  size_t at = dict.find("'" + key + "'");
  if (at == std::string::npos) return false;
  at = dict.find(':', at);
  if (at == std::string::npos) return false;
  at = dict.find_first_not_of(' ', at + 1);
  if (at == std::string::npos || dict[at] != open) return false;
  size_t end = dict.find(close, at + 1);
  if (end == std::string::npos) return false;
  *value = dict.substr(at + 1, end - at - 1);
  return !value->empty() || open == '(';
}

// A bare word after 'key': (True, False); false when absent.
bool dictWord(const std::string& dict, const std::string& key, std::string* word) {
  size_t at = dict.find("'" + key + "'");
  if (at == std::string::npos || (at = dict.find(':', at)) == std::string::npos) return false;
  at = dict.find_first_not_of(' ', at + 1);
  if (at == std::string::npos) return false;
  size_t end = dict.find_first_of(",} ", at);
  *word = dict.substr(at, end == std::string::npos ? std::string::npos : end - at);
  return true;
}

// "3, 4" or "3," or "" (a scalar): sizes separated by commas, each at most INT64_MAX.
bool parseShape(const std::string& text, std::vector<size_t>* shape) {
  shape->clear();
  size_t at = 0;
  while (true) {
    at = text.find_first_not_of(' ', at);
    if (at == std::string::npos) return true;  // end, possibly after a trailing comma
    size_t end = at;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
    if (end == at || end - at > 18) return false;
    shape->push_back(size_t(std::stoull(text.substr(at, end - at))));
    at = text.find_first_not_of(' ', end);
    if (at == std::string::npos) return true;
    if (text[at] != ',') return false;
    ++at;
  }
}

}  // namespace

size_t npy::itemSize(const std::string& descr) {
  // '<', '>', '|' or '=' byte order, a kind letter, the size in bytes: "<f4", "|u1".
  if (descr.size() < 3 || descr.size() > 4 || std::string("<>|=").find(descr[0]) == std::string::npos)
    return 0;
  size_t size = 0;
  for (size_t i = 2; i < descr.size(); ++i) {
    if (descr[i] < '0' || descr[i] > '9') return 0;
    size = size * 10 + size_t(descr[i] - '0');
  }
  return size <= 16 ? size : 0;
}

NpyWriter::NpyWriter(const std::string& path, const std::string& descr, std::vector<size_t> shape,
                     const std::string& shownPath)
    : mPath(shownPath.empty() ? path : shownPath), mDescr(descr), mShape(std::move(shape)) {
  mRowBytes = product(mShape, 1) * npy::itemSize(descr);
  std::string h = header(mDescr, mShape, 0);
  mHeaderBytes = h.size();
  mFd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (mFd < 0) throwWriteError(mPath, errno);
  try {
    writeAll(mFd, h.data(), h.size(), 0, mPath);
  } catch (...) {
    ::close(mFd);
    mFd = -1;
    throw;
  }
}

NpyWriter::~NpyWriter() {
  if (mFd >= 0) ::close(mFd);
}

void NpyWriter::writeRows(size_t first, size_t count, const void* data) {
  writeAll(mFd, data, count * mRowBytes, static_cast<off_t>(mHeaderBytes + first * mRowBytes),
           mPath);
}

void NpyWriter::finish(size_t rows) {
  if (!mShape.empty()) mShape[0] = rows;
  std::string h = header(mDescr, mShape, mHeaderBytes);
  writeAll(mFd, h.data(), h.size(), 0, mPath);
  off_t end = static_cast<off_t>(mHeaderBytes + rows * mRowBytes);
  if (ftruncate(mFd, end) != 0) throwWriteError(mPath, errno);
  // Flushed before the caller renames the file (or its staging folder) into place, so after a
  // crash or power cut a complete-looking file has all its rows (base/atomic_file.h).
  if (::fsync(mFd) != 0) throwWriteError(mPath, errno);
  int rc = ::close(mFd);
  mFd = -1;
  if (rc != 0) throwWriteError(mPath, errno);
}

NpyMap::NpyMap(const std::string& path) : mPath(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw UserError(path + ": cannot be opened (" + std::strerror(errno) + ").");
  struct stat st {};
  fstat(fd, &st);
  mMapBytes = static_cast<size_t>(st.st_size);
  if (mMapBytes >= 10) mMap = mmap(nullptr, mMapBytes, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (mMap == nullptr || mMap == MAP_FAILED) {
    mMap = nullptr;
    throw UserError(path + ": not a readable .npy file.");
  }
  try {
    parseHeader(path);
  } catch (...) {
    munmap(mMap, mMapBytes);
    throw;
  }
}

// The header of a format 1.0 file (what numpy writes for small headers and Directrix always
// writes); every size is checked before it is used, so a corrupt or hostile file ends in a
// UserError, never in a read past the mapping.
void NpyMap::parseHeader(const std::string& path) {
  const auto* bytes = static_cast<const uint8_t*>(mMap);
  if (std::memcmp(bytes, kMagic, 6) != 0) throw UserError(path + ": not an .npy file.");
  if (bytes[6] != 1)
    throw UserError(path + ": .npy format version " + std::to_string(bytes[6]) +
                    " is not supported; save it with numpy.save (format 1.0).");
  size_t headerLen = bytes[8] | (bytes[9] << 8);
  if (headerLen > mMapBytes - 10)
    throw UserError(path + ": .npy header is cut off (truncated file).");
  std::string dict(reinterpret_cast<const char*>(bytes + 10), headerLen);
  std::string descr, dims;
  if (!dictValue(dict, "descr", '\'', '\'', &descr))
    throw UserError(path + ": .npy header has no dtype.");
  mDescr = descr;
  size_t item = npy::itemSize(mDescr);
  if (item == 0) throw UserError(path + ": .npy dtype '" + mDescr + "' is not understood.");
  std::string fortran;
  if (dictWord(dict, "fortran_order", &fortran) && fortran != "False")
    throw UserError(path + ": Fortran-ordered arrays are not supported; save with "
                    "numpy.ascontiguousarray.");
  if (!dictValue(dict, "shape", '(', ')', &dims))
    throw UserError(path + ": .npy header has no shape.");
  if (!parseShape(dims, &mShape))
    throw UserError(path + ": .npy shape (" + dims + ") is not a list of sizes.");
  // Checked over the non-zero sizes, so no product below can overflow; data must hold them all.
  const size_t available = mMapBytes - 10 - headerLen;
  size_t nonZero = item;
  bool empty = false;
  for (size_t d : mShape) {
    // No real array has 2^40 rows; an empty one claiming them would still make loops spin.
    if (d > (size_t(1) << 40)) throw UserError(path + ": .npy shape (" + dims + ") is too large.");
    if (d == 0) {
      empty = true;
      continue;
    }
    if (nonZero > size_t(INT64_MAX) / d)
      throw UserError(path + ": .npy shape (" + dims + ") is too large.");
    nonZero *= d;
  }
  if (!empty && nonZero > available)
    throw UserError(path + ": .npy data is shorter than its header says (truncated file).");
  if ((10 + headerLen) % 16 != 0)
    throw UserError(path + ": .npy data is not aligned (the header is " +
                    std::to_string(10 + headerLen) + " bytes); save it with numpy.save.");
  mRowBytes = product(mShape, 1) * item;
  mData = bytes + 10 + headerLen;
}

NpyMap::~NpyMap() {
  if (mMap) munmap(mMap, mMapBytes);
}

void writeNpy(const std::string& path, const std::string& descr, const std::vector<size_t>& shape,
              const void* data) {
  // Under a temporary name, then renamed: a reader never sees a half-written array.
  std::string temporary = temporaryPathFor(path);
  try {
    NpyWriter w(temporary, descr, shape, path);
    size_t rows = shape.empty() ? 1 : shape[0];
    w.writeRows(0, rows, data);
    w.finish(rows);
  } catch (...) {
    ::unlink(temporary.c_str());
    throw;
  }
  moveIntoPlace(temporary, path);
}

std::vector<float> readNpyFloat32(const std::string& path, std::vector<size_t>* shape) {
  NpyMap map(path);
  if (map.descr() != npy::float32)
    throw UserError(path + ": expected float32 data but found dtype '" + map.descr() +
                    "'; save it with numpy's astype(np.float32).");
  if (shape) *shape = map.shape();
  const auto* f = reinterpret_cast<const float*>(map.data());
  return std::vector<float>(f, f + map.rows() * map.rowBytes() / sizeof(float));
}

}  // namespace dx
