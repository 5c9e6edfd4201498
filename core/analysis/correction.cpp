#include "analysis/correction.h"

#include <torch/torch.h>

#include <algorithm>
#include <numeric>

#include "base/stopwatch.h"
#include "base/tensor_io.h"

namespace dx {

int64_t EditReport::total() const { return std::accumulate(images.begin(), images.end(), int64_t(0)); }
double EditReport::accuracyBefore() const {
  return total() ? double(std::accumulate(correctBefore.begin(), correctBefore.end(), int64_t(0))) / total() : 0;
}
double EditReport::accuracyAfter() const {
  return total() ? double(std::accumulate(correctAfter.begin(), correctAfter.end(), int64_t(0))) / total() : 0;
}

EditReport evaluateEdits(const HeadFunction& head, const ConceptBasis& basis,
                         const ActivationCache& cache, const std::vector<ConceptEdit>& edits,
                         const ProgressSink& progress, const CancelToken& cancel) {
  torch::NoGradGuard noGrad;
  auto k = int64_t(cache.classes().size());
  EditReport r;
  r.classes = cache.classes();
  r.images.assign(size_t(k), 0);
  r.correctBefore = r.correctAfter = r.images;
  r.confusionBefore = torch::zeros({k, k}, torch::kLong);
  r.confusionAfter = torch::zeros({k, k}, torch::kLong);
  auto toClass = cache.labelToModelClass();
  int64_t n = int64_t(cache.size());
  const int64_t chunk = 512;
  auto confusionBefore = r.confusionBefore.accessor<int64_t, 2>();
  auto confusionAfter = r.confusionAfter.accessor<int64_t, 2>();
  Stopwatch clock;
  for (int64_t start = 0; start < n; start += chunk) {
    if (cancel.cancelled()) throw Cancelled();
    int64_t count = std::min(chunk, n - start);
    auto z = npyRows(cache.activations(), size_t(start), size_t(count)).to(basis.decoders.device());
    auto cf = counterfactual(head.rows(start, count), basis, z, edits);
    auto before = cf.original.argmax(1).to(torch::kCPU).contiguous();
    auto after = cf.edited.argmax(1).to(torch::kCPU).contiguous();
    const int64_t* pb = before.data_ptr<int64_t>();
    const int64_t* pa = after.data_ptr<int64_t>();
    for (int64_t j = 0; j < count; ++j) {
      int64_t label = cache.label(size_t(start + j));
      int64_t truth = label >= 0 && size_t(label) < toClass.size() ? toClass[size_t(label)] : -1;
      if (truth < 0) continue;
      int64_t b = pb[j], a = pa[j];
      ++r.images[size_t(truth)];
      r.correctBefore[size_t(truth)] += b == truth;
      r.correctAfter[size_t(truth)] += a == truth;
      ++confusionBefore[truth][b];
      ++confusionAfter[truth][a];
    }
    if (progress) progress(clock.progress("apply edits to dataset", start + count, n));
  }
  return r;
}

}  // namespace dx
