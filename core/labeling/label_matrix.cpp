#include "labeling/label_matrix.h"

#include "base/progress.h"

namespace dx {

LabelMatrix::LabelMatrix(size_t images, std::vector<std::string> names)
    : mImages(images), mWords(bitWords(images)), mNames(std::move(names)) {
  for (size_t j = 0; j < mNames.size(); ++j)
    if (mNames[j].empty())
      throw UserError("concept " + std::to_string(j) + " has an empty name; every concept "
                      "needs a name to print formulas.");
  mBits.assign(mWords * mNames.size(), 0);
}

LabelMatrix LabelMatrix::fromDense(const uint8_t* y, size_t images,
                                   std::vector<std::string> names) {
  LabelMatrix m(images, std::move(names));
  size_t concepts = m.concepts();
  for (size_t i = 0; i < images; ++i)
    for (size_t j = 0; j < concepts; ++j)
      if (y[i * concepts + j]) m.set(i, j);
  return m;
}

void LabelMatrix::set(size_t image, size_t concept, bool present) {
  uint64_t& word = mBits[concept * mWords + image / 64];
  uint64_t bit = uint64_t{1} << (image % 64);
  word = present ? (word | bit) : (word & ~bit);
}

bool LabelMatrix::test(size_t image, size_t concept) const {
  return (column(concept)[image / 64] >> (image % 64)) & 1u;
}

size_t LabelMatrix::positives(size_t concept) const { return popcount(column(concept), mWords); }

LabelMatrix LabelMatrix::negated() const {
  LabelMatrix out = *this;
  for (auto& w : out.mBits) w = ~w;
  if (mWords == 0) return out;
  for (size_t j = 0; j < concepts(); ++j) out.mBits[(j + 1) * mWords - 1] &= lastWordMask(mImages);
  return out;
}

size_t popcount(const uint64_t* words, size_t count) {
  size_t total = 0;
  for (size_t k = 0; k < count; ++k) total += static_cast<size_t>(__builtin_popcountll(words[k]));
  return total;
}

}  // namespace dx
