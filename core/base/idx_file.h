#pragma once
// Reader for the IDX format of MNIST / Fashion-MNIST (optionally gzip-compressed):
// big-endian magic 0x0000 <type> <ndims>, then ndims big-endian uint32 sizes, then the data.
// Only unsigned-byte data (type 0x08) is used by these datasets and supported here.
#include <cstdint>
#include <string>
#include <vector>

namespace dx {

struct IdxArray {
  std::vector<uint32_t> shape;
  std::vector<uint8_t> data;  // row-major
  size_t count() const { return shape.empty() ? 0 : shape[0]; }
};

// Reads `path` (".gz" or raw, detected by content); throws UserError naming the file on a
// missing file, a bad magic number, an unsupported type or truncated data.
IdxArray readIdx(const std::string& path);

// Parses IDX bytes already in memory (used by readIdx and by tests).
IdxArray parseIdx(const std::vector<uint8_t>& bytes, const std::string& source);

}  // namespace dx
