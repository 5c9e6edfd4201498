#pragma once
// A data-parallel fit played by threads (tests only): `count` threads, each fitting its contiguous
// share of the images with the statistics summed over all of them (thread_reduction.h), as the
// ranks of `directrix-cli discover` do. The head, if any, is narrowed to each share (EDDP's URA).
#include <future>
#include <memory>
#include <vector>

#include "discovery/concept_method.h"
#include "distributed/launch.h"
#include "thread_reduction.h"

namespace dx::test {

inline std::vector<ConceptBasis> fitInParts(const ConceptMethod& method, const at::Tensor& z,
                                            const FitOptions& o, int count) {
  ThreadReductionHub hub(count);
  std::vector<std::future<ConceptBasis>> parts;
  const int64_t images = z.size(0);
  for (int part = 0; part < count; ++part)
    parts.push_back(std::async(std::launch::async, [&, part] {
      auto share = shareOf(size_t(images), part, count);
      const auto first = int64_t(share.begin), size = int64_t(share.size());
      FitOptions mine = o;
      mine.parallel = {std::make_shared<ThreadReduction>(hub, part), first, images};
      if (o.head) mine.head = o.head.rows(first, size);
      return method.fit(z.narrow(0, first, size), mine);
    }));
  std::vector<ConceptBasis> bases;
  for (auto& p : parts) bases.push_back(p.get());
  return bases;
}

}  // namespace dx::test
