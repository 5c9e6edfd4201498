#pragma once
// The patches of N x C x h x w activations as rows (image-major, then row-major positions, the
// order of patchesOf), read a block at a time. A fit keeps only a block of patches beyond what it
// holds by design (centroids, labels, a sample), so the activations can be a memory-mapped cache
// larger than memory (mapNpyTensor): its pages are the file's, not the process's. Small inputs
// are converted once and kept (repeated passes are then cheaper); every block holds the same
// values either way, so a fit gives the same result streamed or in memory.
#include <functional>
#include <vector>
#include <utility>

#include <ATen/core/Tensor.h>

#include "discovery/reduction.h"

namespace dx {

// The power-of-two grid (float64, `bound`'s shape) on which `parts` values, each within
// +-bound, add up exactly in any order: rounded to it, they are integer multiples of it whose
// sum stays below 2^52 of it (Patches::exactSums).
at::Tensor exactGrid(const at::Tensor& bound, int64_t parts);

class Patches {
 public:
  // activations: N x C x h x w, float32 or float16, any device (a read-only mapping is never
  // written). Kept as a float32 P x C matrix when that takes at most `keepBytes`.
  // blockRows: rows per block; 0 chooses about 128 MB of float32.
  Patches(const at::Tensor& activations, int64_t keepBytes, int64_t blockRows = 0);
  // A P x C matrix already in memory, kept as it is (for code that works on samples).
  static Patches ofMatrix(const at::Tensor& matrix);

  int64_t rows() const { return mRows; }
  int64_t channels() const { return mChannels; }
  int64_t perImage() const { return mPerImage; }
  int64_t blockRows() const { return mBlockRows; }
  int64_t blocks() const { return (mRows + mBlockRows - 1) / mBlockRows; }
  bool kept() const { return mMatrix.defined(); }
  const at::Tensor& activations() const { return mActivations; }

  // Rows [begin, begin + count) as a count x C float32 contiguous tensor on the activations'
  // device, after this view's transform (see mapped).
  at::Tensor block(int64_t begin, int64_t count) const;
  // Calls f(begin, rows) for each block in order.
  void forEachBlock(const std::function<void(int64_t, const at::Tensor&)>& f) const;
  // The rows with these indices (int64, any device), in that order.
  at::Tensor at(const at::Tensor& index) const;
  // Per-channel mean (float32) over every process's patches, from exactSum: the same bits kept or
  // streamed, in one process or shared out over several.
  at::Tensor mean() const;
  // Images per fold block: about one block's rows, and small enough that there are at least 64
  // fold blocks (when there are 64 images), so that shares of whole fold blocks stay balanced.
  // Over every process's images; data-parallel shares begin at a multiple of it (see share).
  int64_t foldImages() const;
  // The sums over every process's patches of f(rows of each fold block) (float64), exactly: each
  // block's value is rounded to a grid 2^-52 of the largest block value times the number of
  // blocks (a relative error of about blocks x 2e-16 of that value), so that adding them is
  // exact and its result does not depend on the order of the additions. A data-parallel fit
  // thereby gets the bits of the one-process fit (a float sum in another order differs in its
  // last bits, and EDDP's steps amplify such differences; issue: data-parallel discovery).
  // f sees each fold block once or twice (twice when keeping the blocks' values would take over
  // 256 MB).
  using BlockSums = std::function<std::vector<at::Tensor>(const at::Tensor& rows)>;
  std::vector<at::Tensor> exactSums(const BlockSums& f) const;
  // exactSums in one pass, on the grid of `bounds` (float64, one per value of f: each at least
  // the magnitude of that value in every fold block of this process; the processes' largest is
  // used). For values too large to keep, whose exact maxima would cost a second pass of f.
  std::vector<at::Tensor> boundedExactSums(const BlockSums& f,
                                           std::vector<at::Tensor> bounds) const;
  // Each value of f's largest magnitude over every process's fold blocks (float64, on the CPU);
  // `kept`, when given, receives this process's block values if they take at most 256 MB.
  std::vector<at::Tensor> blockMaxima(const BlockSums& f,
                                      std::vector<std::vector<at::Tensor>>* kept = nullptr) const;
  // Fold blocks over every process (the number of values exact sums add).
  int64_t foldBlocks() const;
  at::Tensor exactSum(const std::function<at::Tensor(const at::Tensor& rows)>& f) const;
  // The sum of `count` parts of `shape` (any dtype and device) and every other process's parts,
  // `globalParts` in all, exactly as exactSums adds (float64, on the CPU): for fits that compute
  // their own statistic per fold block (NMF's HALS products on its sample). parts(begin, n)
  // gives parts begin..begin + n - 1 stacked (n x shape; about 64 MB of them at a time).
  // `bound`: a bound on every magnitude of this process's parts (float64, `shape`); the grid is
  // that of the processes' largest bound. Undefined: their largest magnitude, for which each
  // part is computed twice.
  using PartValues = std::function<at::Tensor(int64_t begin, int64_t n)>;
  at::Tensor exactTotal(at::IntArrayRef shape, int64_t count, int64_t globalParts,
                        const PartValues& parts, at::Tensor bound = {}) const;
  // The kept P x C matrix (after the transform), undefined when streamed.
  const at::Tensor& matrix() const { return mMatrix; }
  // min and max over every value of every process (NaN when any value is NaN).
  std::pair<double, double> range() const;

  // Data-parallel fits: these patches become rows [offset, offset + rows()) of `globalRows`
  // patches shared out over processes, in process order (every process calls it: it learns the
  // others' row counts); `reduction` sums across them. With `offset` on a fold block (as
  // shareOf(images, rank, world, foldImages) gives) exact sums carry the one-process bits.
  // Blocks, forEachBlock and at() still serve this process's rows (local indices); mean() and
  // range() cover every process.
  void share(std::shared_ptr<const Reduction> reduction, int64_t offset, int64_t globalRows);
  bool shared() const { return mReduction != nullptr; }
  const Reduction* reduction() const { return mReduction.get(); }
  int64_t globalRows() const { return mReduction ? mGlobalRows : mRows; }
  int64_t offset() const { return mReduction ? mOffset : 0; }
  // Sums (max) `t` over the processes in place; nothing to do in a single process.
  void reduceSum(at::Tensor& t) const;
  void reduceMax(at::Tensor& t) const;
  // Every process gets the first process's `t` (Reduction::fromFirst); nothing in one process.
  void fromFirst(at::Tensor& t) const;
  // The rows with these global indices (int64), whichever process holds them, on every process
  // (all must call it with the same indices). In a single process, at(index).
  at::Tensor gather(const at::Tensor& globalIndex) const;
  // The first `count` rows among every process's patches, on every process (all must call it
  // alike). In a single process, block(0, count).
  at::Tensor leading(int64_t count) const;
  // The same patches with `transform` (row-wise: each output row depends on its input row only)
  // applied to every block and gathered row (once, to the whole matrix, when kept; otherwise each
  // read transforms the rows it returns: no second matrix). A
  // matrix product's rows round differently with the number of rows it is given (OpenBLAS), so
  // code that must give the same bits in one process and in several transforms the rows after
  // reading or gathering them itself (EDDP's StandardisedPatches).
  // `channels` is the transform's output width (-1: unchanged).
  Patches mapped(std::function<at::Tensor(const at::Tensor&)> transform,
                 int64_t channels = -1) const;

 private:
  at::Tensor raw(int64_t begin, int64_t count) const;
  int64_t localFoldBlocks() const;
  std::vector<at::Tensor> foldBlockValues(const BlockSums& f, int64_t block) const;
  std::vector<at::Tensor> sumOnGrid(const BlockSums& f, const std::vector<at::Tensor>& bounds,
                                    const std::vector<std::vector<at::Tensor>>& kept) const;
  at::Tensor rawAt(const at::Tensor& index) const;
  at::Tensor apply(const at::Tensor& x) const { return mTransform ? mTransform(x) : x; }

  at::Tensor mActivations;  // N x C x h x w as given
  at::Tensor mMatrix;       // P x C float32 when kept
  std::function<at::Tensor(const at::Tensor&)> mTransform;
  int64_t mRows = 0, mChannels = 0, mPerImage = 1, mBlockRows = 1;
  std::shared_ptr<const Reduction> mReduction;  // set by share()
  int64_t mOffset = 0, mGlobalRows = 0;
  std::vector<int64_t> mPartEnds;  // shared: where each process's rows end among all rows
};

}  // namespace dx
