#include "discovery/patches.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace dx {
namespace {

// About 128 MB of float32 per block, between 1,024 and 65,536 rows.
int64_t blockRowsFor(int64_t channels) {
  return std::clamp<int64_t>((int64_t(128) << 20) / (4 * std::max<int64_t>(channels, 1)), 1024,
                             65536);
}

}  // namespace

Patches::Patches(const at::Tensor& activations, int64_t keepBytes, int64_t blockRows)
    : mActivations(activations) {
  mChannels = activations.size(1);
  mPerImage = activations.size(2) * activations.size(3);
  mRows = activations.size(0) * mPerImage;
  mBlockRows = blockRows > 0 ? blockRows : blockRowsFor(mChannels);
  if (mRows * mChannels * 4 <= keepBytes) {
    mMatrix = activations.to(torch::kFloat)
                  .permute({0, 2, 3, 1})
                  .reshape({-1, mChannels})
                  .contiguous();
    if (mMatrix.is_alias_of(activations)) mMatrix = mMatrix.clone();  // never the caller's memory
  }
}

Patches Patches::ofMatrix(const at::Tensor& matrix) {
  // Kept as it is: a float32 matrix is read in place, its blocks are views of it. The
  // constructor's copy (which keeps a mapped cache's blocks off the mapping) would hold a second
  // copy of every sample given here: EDDP's k-means start on 100,000 x 2,048 patches held
  // 0.8 GB more.
  Patches p(matrix.reshape({matrix.size(0), matrix.size(1), 1, 1}), /*keepBytes=*/0);
  p.mMatrix = matrix.to(torch::kFloat).contiguous();
  return p;
}

at::Tensor Patches::raw(int64_t begin, int64_t count) const {
  if (mMatrix.defined()) return mMatrix.narrow(0, begin, count);
  int64_t first = begin / mPerImage, last = (begin + count - 1) / mPerImage;
  auto images = mActivations.slice(0, first, last + 1).to(torch::kFloat);
  auto rows = images.permute({0, 2, 3, 1})
                  .reshape({-1, mActivations.size(1)})
                  .narrow(0, begin - first * mPerImage, count)
                  .contiguous();
  // With one position or one channel the rows can still be a view of a read-only mapping.
  return rows.is_alias_of(mActivations) ? rows.clone() : rows;
}

at::Tensor Patches::block(int64_t begin, int64_t count) const { return apply(raw(begin, count)); }

void Patches::forEachBlock(const std::function<void(int64_t, const at::Tensor&)>& f) const {
  for (int64_t begin = 0; begin < mRows; begin += mBlockRows)
    f(begin, block(begin, std::min(mBlockRows, mRows - begin)));
}

at::Tensor Patches::rawAt(const at::Tensor& index) const {
  if (mMatrix.defined()) return mMatrix.index_select(0, index.to(mMatrix.device(), torch::kLong));
  auto rows = index.to(mActivations.device(), torch::kLong);
  auto grid = mActivations.reshape({mActivations.size(0), mActivations.size(1), mPerImage});
  using torch::indexing::Slice;
  return grid.index({rows.div(mPerImage, "floor"), Slice(), rows.remainder(mPerImage)})
      .to(torch::kFloat)
      .contiguous();
}

at::Tensor Patches::at(const at::Tensor& index) const { return apply(rawAt(index)); }

at::Tensor Patches::mean() const {
  auto sum = exactSum([](const at::Tensor& x) { return x.sum(0, false, torch::kDouble); });
  auto mean = sum / double(std::max<int64_t>(globalRows(), 1));
  return mean.to(mActivations.device(), torch::kFloat);
}

int64_t Patches::foldImages() const {
  int64_t images = globalRows() / std::max<int64_t>(mPerImage, 1);
  return std::max<int64_t>(1, std::min(mBlockRows / std::max<int64_t>(mPerImage, 1), images / 64));
}

at::Tensor exactGrid(const at::Tensor& bound, int64_t parts) {
  auto grid = bound.to(torch::kCPU, torch::kDouble).contiguous().clone();
  auto* v = grid.data_ptr<double>();
  for (int64_t k = 0; k < grid.numel(); ++k) {
    int exponent = 0;
    std::frexp(v[k] * double(std::max<int64_t>(parts, 1)), &exponent);  // v parts < 2^exponent
    v[k] = std::ldexp(1.0, std::max(exponent - 52, -1000));
  }
  return grid;
}

int64_t Patches::foldBlocks() const {
  const int64_t foldRows = foldImages() * mPerImage;
  return std::max<int64_t>(1, (globalRows() + foldRows - 1) / foldRows);
}

std::vector<at::Tensor> Patches::foldBlockValues(const BlockSums& f, int64_t b) const {
  const int64_t foldRows = foldImages() * mPerImage;
  const int64_t width = mMatrix.defined() ? mMatrix.size(1) : mActivations.size(1);
  auto none = torch::zeros({0, width}, mActivations.options().dtype(torch::kFloat));
  const int64_t begin = b * foldRows;
  auto rows = mRows == 0 ? apply(none) : block(begin, std::min(foldRows, mRows - begin));
  auto values = f(rows);
  for (auto& t : values) t = t.to(torch::kCPU, torch::kDouble).contiguous();
  return values;
}

int64_t Patches::localFoldBlocks() const {
  const int64_t foldRows = foldImages() * mPerImage;
  return std::max<int64_t>(1, (mRows + foldRows - 1) / foldRows);
}

std::vector<at::Tensor> Patches::blockMaxima(const BlockSums& f,
                                             std::vector<std::vector<at::Tensor>>* kept) const {
  const int64_t firsts = localFoldBlocks();
  std::vector<at::Tensor> largest;
  bool keep = kept != nullptr;
  for (int64_t b = 0; b < firsts; ++b) {
    auto values = foldBlockValues(f, b);
    if (largest.empty())
      for (auto& t : values) largest.push_back(torch::zeros_like(t));
    int64_t bytes = 0;
    for (size_t k = 0; k < values.size(); ++k) {
      largest[k] = torch::maximum(largest[k], values[k].abs());
      bytes += values[k].numel() * 8;
    }
    keep = keep && bytes * firsts <= (int64_t(256) << 20);
    if (keep) kept->push_back(std::move(values));
  }
  if (kept && !keep) kept->clear();
  for (auto& t : largest) reduceMax(t);
  return largest;
}

std::vector<at::Tensor> Patches::sumOnGrid(
    const BlockSums& f, const std::vector<at::Tensor>& bounds,
    const std::vector<std::vector<at::Tensor>>& kept) const {
  const int64_t blocks = foldBlocks();
  std::vector<at::Tensor> grid, sums;
  for (auto& t : bounds) {
    grid.push_back(exactGrid(t, blocks));
    sums.push_back(torch::zeros_like(grid.back()));
  }
  for (int64_t b = 0; b < localFoldBlocks(); ++b) {
    auto values = kept.empty() ? foldBlockValues(f, b) : kept[size_t(b)];
    for (size_t k = 0; k < values.size(); ++k)
      sums[k] += (values[k] / grid[k]).round() * grid[k];
  }
  for (auto& t : sums) reduceSum(t);
  return sums;
}

std::vector<at::Tensor> Patches::exactSums(const BlockSums& f) const {
  // Pass 1: each value's largest magnitude over every block (kept when small); pass 2: rounded
  // to the grid, added exactly, summed over the processes exactly.
  std::vector<std::vector<at::Tensor>> kept;
  auto largest = blockMaxima(f, &kept);
  return sumOnGrid(f, largest, kept);
}

std::vector<at::Tensor> Patches::boundedExactSums(const BlockSums& f,
                                                  std::vector<at::Tensor> bounds) const {
  for (auto& t : bounds) {
    t = t.to(torch::kCPU, torch::kDouble).clone();  // never the caller's tensor
    reduceMax(t);
  }
  return sumOnGrid(f, bounds, {});
}

at::Tensor Patches::exactSum(const std::function<at::Tensor(const at::Tensor& rows)>& f) const {
  return exactSums([&f](const at::Tensor& rows) { return std::vector<at::Tensor>{f(rows)}; })
      .front();
}

at::Tensor Patches::exactTotal(at::IntArrayRef shape, int64_t count, int64_t globalParts,
                              const PartValues& parts, at::Tensor bound) const {
  const int64_t size = c10::multiply_integers(shape);
  const int64_t batch = std::max<int64_t>(1, (int64_t(64) << 20) / 8 / std::max<int64_t>(size, 1));
  auto forEachBatch = [&](const std::function<void(const at::Tensor&)>& f) {
    for (int64_t begin = 0; begin < count; begin += batch)
      f(parts(begin, std::min(batch, count - begin)).to(torch::kCPU, torch::kDouble));
  };
  if (!bound.defined()) {
    bound = torch::zeros(shape, torch::kDouble);
    forEachBatch([&](const at::Tensor& v) { bound = torch::maximum(bound, v.abs().amax(0)); });
  }
  bound = bound.to(torch::kCPU, torch::kDouble).clone();  // never the caller's tensor
  reduceMax(bound);
  const auto grid = exactGrid(bound, globalParts);
  auto sum = torch::zeros(shape, torch::kDouble);
  // Multiples of the grid add up exactly in any order, the batch's sum(0) included.
  forEachBatch([&](const at::Tensor& v) { sum.add_((v / grid).round_().mul_(grid).sum(0)); });
  reduceSum(sum);
  return sum;
}

std::pair<double, double> Patches::range() const {
  double lo = INFINITY, hi = -INFINITY;
  bool nan = false;
  forEachBlock([&](int64_t, const at::Tensor& x) {
    double a = x.min().item<double>(), b = x.max().item<double>();
    nan = nan || std::isnan(a) || std::isnan(b);
    lo = std::min(lo, a);
    hi = std::max(hi, b);
  });
  if (shared()) {  // one max over (NaN seen, -min, max)
    at::Tensor all = torch::tensor({nan ? 1.0 : 0.0, -lo, hi}, torch::kDouble);
    reduceMax(all);
    nan = all[0].item<double>() > 0;
    lo = -all[1].item<double>();
    hi = all[2].item<double>();
  }
  return nan ? std::make_pair(double(NAN), double(NAN)) : std::make_pair(lo, hi);
}

void Patches::share(std::shared_ptr<const Reduction> reduction, int64_t offset,
                    int64_t globalRows) {
  mReduction = std::move(reduction);
  mOffset = offset;
  mGlobalRows = globalRows;
  mPartEnds = mReduction->countsOf(mRows);
  for (size_t k = 1; k < mPartEnds.size(); ++k) mPartEnds[k] += mPartEnds[k - 1];
  const int part = mReduction->part();
  TORCH_CHECK(mPartEnds.back() == globalRows && mPartEnds[size_t(part)] == offset + mRows,
              "data-parallel patches: the processes' shares are not consecutive in process order");
}

void Patches::reduceSum(at::Tensor& t) const {
  if (mReduction) mReduction->sum(t);
}

void Patches::reduceMax(at::Tensor& t) const {
  if (mReduction) mReduction->max(t);
}

void Patches::fromFirst(at::Tensor& t) const {
  if (mReduction) mReduction->fromFirst(t);
}

at::Tensor Patches::gather(const at::Tensor& globalIndex) const {
  if (!shared()) return at(globalIndex);
  // Each process sends the rows it holds (an all-gather); every process puts them in order.
  at::Tensor index = globalIndex.to(torch::kCPU, torch::kLong);
  at::Tensor owner = torch::bucketize(index, torch::tensor(mPartEnds), /*out_int32=*/false,
                                      /*right=*/true);
  at::Tensor mine = owner.eq(mReduction->part()).nonzero().flatten();
  at::Tensor rows = mine.numel() > 0
                        ? at(index.index_select(0, mine) - mOffset).to(torch::kCPU, torch::kFloat)
                        : torch::zeros({0, mChannels}, torch::kFloat);
  return mReduction->gatherOwned(rows, owner).to(mActivations.device());
}

at::Tensor Patches::leading(int64_t count) const {
  if (!shared()) return block(0, count);
  return gather(torch::arange(count, torch::kLong));
}

Patches Patches::mapped(std::function<at::Tensor(const at::Tensor&)> transform,
                        int64_t channels) const {
  Patches p = *this;
  if (channels >= 0) p.mChannels = channels;
  if (p.mMatrix.defined()) {  // kept: transform once
    p.mMatrix = transform(apply(mMatrix)).contiguous();
    p.mTransform = nullptr;
    return p;
  }
  auto inner = mTransform;
  p.mTransform = inner ? [inner, transform](const at::Tensor& x) { return transform(inner(x)); }
                       : std::move(transform);
  return p;
}

}  // namespace dx
