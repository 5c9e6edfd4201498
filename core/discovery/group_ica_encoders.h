#pragma once
// Encoders by ICA within firing groups (ours; docs/concept-discovery.md "Encoders by ICA within
// firing groups"). The positives-only signal vector (signal_vectors.h) is exact only for a filter
// dual to the encodings, and fitted detectors are not dual: a filter that also weighs other
// factors detects as well. Where a factor spreads as much when absent as when present (the
// paper's uniform factors) that share leaks into the pattern in full (uniform I = 3, D = 64,
// F = 8: worst |cos| 0.56 at detector IoU 0.96).
// Patches that fire the same set of detectors, centred on their group's mean, are
// x - m_g = S a' + D b' with every factor independent of the others within a group (roughly:
// groups are cut by thresholds on fitted filters), and where each factor's centred spread is the
// same in every group (absent and present values spread alike, as uniform factors' do) FastICA of
// the pooled centred groups finds the columns of [S D] wherever the factors are not Gaussian. Each
// detector takes the component whose readings differ most (in standard deviations) between its
// positives and the other patches, and that component's pattern cov(x, s) / var(s) as its encoder.
// Only where the firing groups are single concepts: at least 75% of the sample's patches fire
// exactly one detector (grid cells where ICA helped: 0.79-0.98; ConceptWorld's block4, where a
// patch shows a shape, colour, texture and background at once: 0.31, and there ICA's encoders
// made switching the watermark off useless, accuracy on marked images 0.893 -> 0.898 against
// the positives-only encoders' 0.925; layers with a 70% background: 0.22-0.45). Then a detector
// keeps its positives-only encoder unless (1) the other concepts' factors spread when
// absent at least half as much as when present (the median over the other detectors j of
// var(w_j . x) on its positives where j is silent over the same on j's positives; the
// positives-only pattern leans towards s_j by the filter's weight on factor j times this ratio:
// uniform factors 0.9-1.5, heavy-tailed ones, mostly exactly 0 when absent, 0.004-0.34 where
// their detectors are found, and there the positives-only encoders were better, |cos| 0.99
// against ICA's 0.90 at I = 12, D = 64, F = 32), (2) the components chosen the same way on two
// random halves of the groups point the same way (|cos| >= 0.9, as the product's other halves
// checks do) and (3) no other detector chose the same component. Gaussian factors (noisy levels)
// give components that change from half to half, so their fallback stands; their encoders are
// not determined by the data anyway (docs "Encoders the data do not determine").
#include <cmath>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "discovery/concept_method.h"

namespace dx::eddp {

// Why no detector could take an ICA encoder (None: the step ran).
enum class IcaSkip { None, NoPatches, SeveralOrNone, NoSpread, FewGrouped };
std::string icaSkipReason(IcaSkip why);  // "" for None

struct GroupIcaEncoders {
  at::Tensor encoders;         // I x D: accepted patterns, else the fallback's rows
  std::vector<bool> accepted;  // per detector
  // The share of the sample's patches that fire exactly one detector, and the least share at
  // which the step runs; NaN where the sample is empty.
  double singleFiring = NAN, singleFiringThreshold = NAN;
  IcaSkip skipped = IcaSkip::None;
};

// sample: n x D raw patches; decoders I x D and biases I fire where w . x > b; fallback I x D
// (the positives-only encoders). Groups under 20 patches are left out. Deterministic for a seed.
GroupIcaEncoders groupIcaEncoders(const at::Tensor& sample, const at::Tensor& decoders,
                                  const at::Tensor& biases, const at::Tensor& fallback,
                                  uint64_t seed, const CancelToken& cancel);

}  // namespace dx::eddp
