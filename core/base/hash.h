#pragma once
// 64-bit FNV-1a: a fast, stable content fingerprint for cache keys (not for security).
#include <cstdint>
#include <string>

namespace dx {

class Hasher {
 public:
  Hasher& update(const void* data, size_t size);
  Hasher& update(const std::string& s) { return update(s.data(), s.size()).update("\x1f", 1); }
  std::string hex() const;
  uint64_t value() const { return mState; }

 private:
  uint64_t mState = 14695981039346656037ull;
};

// Hash of a whole file's bytes; throws UserError when it cannot be read.
std::string hashFile(const std::string& path);

}  // namespace dx
