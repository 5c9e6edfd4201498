#include "base/npy.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <regex>

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
      throw UserError(path + ": write failed (" + std::strerror(errno) +
                      "); check free disk space.");
    }
    p += n;
    bytes -= static_cast<size_t>(n);
    offset += n;
  }
}

}  // namespace

size_t npy::itemSize(const std::string& descr) {
  if (descr.size() < 3) return 0;
  return static_cast<size_t>(std::stoul(descr.substr(2)));
}

NpyWriter::NpyWriter(const std::string& path, const std::string& descr, std::vector<size_t> shape)
    : mPath(path), mDescr(descr), mShape(std::move(shape)) {
  mRowBytes = product(mShape, 1) * npy::itemSize(descr);
  std::string h = header(mDescr, mShape, 0);
  mHeaderBytes = h.size();
  mFd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (mFd < 0)
    throw UserError(path + ": cannot be created (" + std::strerror(errno) +
                    "); choose a writable output folder.");
  writeAll(mFd, h.data(), h.size(), 0, mPath);
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
  // No fsync: atomicity comes from the staging folder's rename, and flushing hundreds of MB
  // here would cost more than the extraction itself on small models.
  if (ftruncate(mFd, end) != 0)
    throw UserError(mPath + ": cannot be finalised (" + std::strerror(errno) + ").");
  ::close(mFd);
  mFd = -1;
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

void NpyMap::parseHeader(const std::string& path) {
  const auto* bytes = static_cast<const uint8_t*>(mMap);
  if (std::memcmp(bytes, kMagic, 6) != 0) throw UserError(path + ": not an .npy file.");
  size_t headerLen = bytes[8] | (bytes[9] << 8);
  std::string dict(reinterpret_cast<const char*>(bytes + 10),
                   std::min(headerLen, mMapBytes - 10));
  std::smatch m;
  if (!std::regex_search(dict, m, std::regex("'descr': *'([^']+)'")))
    throw UserError(path + ": .npy header has no dtype.");
  mDescr = m[1];
  if (dict.find("'fortran_order': True") != std::string::npos)
    throw UserError(path + ": Fortran-ordered arrays are not supported; save with "
                    "numpy.ascontiguousarray.");
  if (!std::regex_search(dict, m, std::regex("'shape': *\\(([^)]*)\\)")))
    throw UserError(path + ": .npy header has no shape.");
  std::string dims = m[1];
  const std::regex number("\\d+");
  for (std::sregex_iterator it(dims.begin(), dims.end(), number), end; it != end; ++it)
    mShape.push_back(std::stoull(it->str()));
  mRowBytes = product(mShape, 1) * npy::itemSize(mDescr);
  mData = bytes + 10 + headerLen;
  if (10 + headerLen + rows() * mRowBytes > mMapBytes)
    throw UserError(path + ": .npy data is shorter than its header says (truncated file).");
}

NpyMap::~NpyMap() {
  if (mMap) munmap(mMap, mMapBytes);
}

void writeNpy(const std::string& path, const std::string& descr, const std::vector<size_t>& shape,
              const void* data) {
  NpyWriter w(path, descr, shape);
  size_t rows = shape.empty() ? 1 : shape[0];
  if (shape.empty()) w.writeRows(0, 1, data);
  else w.writeRows(0, rows, data);
  w.finish(rows);
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
