#pragma once
// Image-level concept labels Y (N images x m concepts, docs/methods.md 2) stored as bit-packed
// columns, so that AND / OR / NOT of concepts are word operations and |positives| is a popcount.
// Bit i % 64 of word i / 64 of a column is image i; the padding bits past image N - 1 are always
// 0, which every operation here preserves (NOT masks them off).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dx {

// Words needed for one column of `images` bits.
inline size_t bitWords(size_t images) { return (images + 63) / 64; }

class LabelMatrix {
 public:
  LabelMatrix() = default;
  // All labels false. Throws UserError when a name is empty.
  LabelMatrix(size_t images, std::vector<std::string> names);
  // y: images x names.size(), row-major, nonzero = the concept is present.
  static LabelMatrix fromDense(const uint8_t* y, size_t images, std::vector<std::string> names);

  size_t images() const { return mImages; }
  size_t concepts() const { return mNames.size(); }
  size_t words() const { return mWords; }
  const std::vector<std::string>& names() const { return mNames; }

  void set(size_t image, size_t concept, bool present = true);
  bool test(size_t image, size_t concept) const;
  const uint64_t* column(size_t concept) const { return mBits.data() + concept * mWords; }
  size_t positives(size_t concept) const;  // images with the concept

  // The same labels with every column negated (NOT c_j), padding kept 0.
  LabelMatrix negated() const;

 private:
  size_t mImages = 0, mWords = 0;
  std::vector<std::string> mNames;
  std::vector<uint64_t> mBits;  // concept-major: column j starts at j * mWords
};

// Mask of the valid bits of the last word of a column of `images` bits.
inline uint64_t lastWordMask(size_t images) {
  size_t r = images % 64;
  return r == 0 ? ~uint64_t{0} : (uint64_t{1} << r) - 1;
}

size_t popcount(const uint64_t* words, size_t count);

}  // namespace dx
