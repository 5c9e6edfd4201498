#pragma once
// How far apart two fits of the same concepts are: the largest difference of their decoders,
// biases or encoders, relative to the largest value of the reference `b`.
#include <algorithm>
#include <utility>

#include <torch/torch.h>

#include "discovery/concept_method.h"

namespace dx::test {

inline double largestDifference(const ConceptBasis& a, const ConceptBasis& b) {
  double d = 0;
  for (auto [x, y] : {std::pair{a.decoders, b.decoders}, std::pair{a.biases, b.biases},
                      std::pair{a.encoders, b.encoders}})
    d = std::max(d, ((x - y).abs().max() / (y.abs().max() + 1e-12)).item<double>());
  return d;
}

}  // namespace dx::test
