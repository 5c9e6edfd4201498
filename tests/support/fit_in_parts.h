#pragma once
// A data-parallel fit played by threads (tests only): `count` threads, each fitting its contiguous
// share of the images (whole fold blocks) with the statistics summed over all of them
// (thread_reduction.h), as the ranks of `directrix-cli discover` do: the head and allImages are
// the whole data's (EDDP's steps read any image).
#include <future>
#include <memory>
#include <vector>

#include "discovery/concept_method.h"
#include "discovery/patches.h"
#include "distributed/launch.h"
#include "thread_reduction.h"

namespace dx::test {

// Part `part` of `count`'s share of z's images, in whole fold blocks (Patches::foldImages).
inline Share shareOfFit(const at::Tensor& z, const FitOptions& o, int part, int count) {
  auto unit = Patches(z, 0, o.patchBlockRows).foldImages();
  return shareOf(size_t(z.size(0)), part, count, size_t(unit));
}

inline std::vector<ConceptBasis> fitInParts(const ConceptMethod& method, const at::Tensor& z,
                                            const FitOptions& o, int count) {
  ThreadReductionHub hub(count);
  std::vector<std::future<ConceptBasis>> parts;
  const int64_t images = z.size(0);
  for (int part = 0; part < count; ++part)
    parts.push_back(std::async(std::launch::async, [&, part] {
      auto share = shareOfFit(z, o, part, count);
      const auto first = int64_t(share.begin), size = int64_t(share.size());
      FitOptions mine = o;
      mine.parallel = {std::make_shared<ThreadReduction>(hub, part), first, images, z};
      return method.fit(z.narrow(0, first, size), mine);
    }));
  std::vector<ConceptBasis> bases;
  for (auto& p : parts) bases.push_back(p.get());
  return bases;
}

}  // namespace dx::test
