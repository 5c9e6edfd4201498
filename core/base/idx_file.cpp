#include "base/idx_file.h"

#include <zlib.h>

#include "base/progress.h"

namespace dx {
namespace {

std::vector<uint8_t> readMaybeGzipped(const std::string& path) {
  // gzread transparently reads uncompressed files too.
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw UserError(path + ": cannot be opened; check the path (Fashion-MNIST comes from "
                          "the Debian package dataset-fashion-mnist).");
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
  bool error = n < 0;
  gzclose(f);
  if (error) throw UserError(path + ": the compressed data is corrupt; reinstall the dataset.");
  return out;
}

uint32_t bigEndian32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

}  // namespace

IdxArray parseIdx(const std::vector<uint8_t>& bytes, const std::string& source) {
  if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0)
    throw UserError(source + ": not an IDX file (bad magic number).");
  if (bytes[2] != 0x08)
    throw UserError(source + ": IDX element type " + std::to_string(bytes[2]) +
                    " is not supported (only unsigned bytes, 0x08).");
  size_t dims = bytes[3];
  if (dims == 0 || bytes.size() < 4 + 4 * dims)
    throw UserError(source + ": IDX header is truncated.");
  IdxArray a;
  size_t total = 1;
  for (size_t d = 0; d < dims; ++d) {
    a.shape.push_back(bigEndian32(&bytes[4 + 4 * d]));
    total *= a.shape.back();
  }
  size_t offset = 4 + 4 * dims;
  if (bytes.size() - offset != total)
    throw UserError(source + ": IDX data holds " + std::to_string(bytes.size() - offset) +
                    " bytes but the header promises " + std::to_string(total) +
                    "; the file is truncated or corrupt.");
  a.data.assign(bytes.begin() + static_cast<long>(offset), bytes.end());
  return a;
}

IdxArray readIdx(const std::string& path) { return parseIdx(readMaybeGzipped(path), path); }

}  // namespace dx
