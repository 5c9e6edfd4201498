#pragma once
// Helpers shared by the fuzz targets (tests/fuzz/README.md): the input as length-prefixed
// records, and files to hand path-based parsers.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace dx::fuzz {

// The input as `count` records, each a 2-byte little-endian length and that many bytes; what is
// missing at the end is empty. tests/fuzz/make_seeds.py writes seeds in this form.
inline std::vector<std::string> records(const uint8_t* data, size_t size, size_t count) {
  std::vector<std::string> out(count);
  size_t at = 0;
  for (size_t r = 0; r < count && at + 2 <= size; ++r) {
    size_t length = data[at] | (size_t(data[at + 1]) << 8);
    at += 2;
    length = std::min(length, size - at);
    out[r].assign(reinterpret_cast<const char*>(data + at), length);
    at += length;
  }
  return out;
}

// A folder of this process for the target's files, emptied on every call.
inline std::filesystem::path scratchFolder(const char* target) {
  static const std::filesystem::path dir = std::filesystem::temp_directory_path() /
      (std::string("directrix-fuzz-") + target + "-" + std::to_string(::getpid()));
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir);
  return dir;
}

inline void writeFile(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

}  // namespace dx::fuzz
