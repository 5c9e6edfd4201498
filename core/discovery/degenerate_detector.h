#pragma once
// Which detector is degenerate (discovery/degenerate.h), from every detector's share of the
// patches: the adaptive preset's test for a collapsed balanced fit (docs/concept-discovery.md
// "Degenerate balanced fits"). The shares come from the positive counts that the positives-only
// signal vectors count anyway (signal_vectors.h), over every patch of every process: a detector
// that fires on a handful of patches counts as firing, which a sample would miss.
#include <ATen/core/Tensor.h>

namespace dx::eddp {

// The one on the largest share where that is over one half, else the first that never fires;
// -1 where none is.
int degenerateDetector(const at::Tensor& shares);

}  // namespace dx::eddp
