#pragma once
// Partition starts for EDDP's partition and adaptive presets (choices of ours; docs/methods.md 1.2
// does not publish an initialisation). A start labels every patch with one concept (k-means or ICA,
// eddp_starts.h); one-vs-rest logistic regression then turns the labels into I detector
// hyperplanes, and how well those hyperplanes reproduce their labels judges the start. EDDP's
// premise is that every concept is detected by one hyperplane (directional clustering); a partition
// that no set of hyperplanes reproduces (k-means splitting a heavy-tailed factor by magnitude, ICA
// mixing the dependent factors of dense data) is a wrong one. No ground truth is used.
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "discovery/concept_method.h"

namespace dx::eddp {

// One concept label (int64 in [0, concepts)) for every row of the standardised patches:
//   "kmeans": nearest Euclidean k-means centroid of the centred patches, the run of lowest
//             inertia among `kMeansRuns` (seeds seed + 104729 j; scikit-learn's n_init);
//   "ica", "ica-whitened": the ICA reading (eddp_starts.h's start of that name) that stands out
//             most, each reading centred on its median and scaled by its standard deviation.
at::Tensor startLabels(const std::string& kind, const at::Tensor& standardised, int concepts,
                       uint64_t seed, const CancelToken& cancel, int kMeansRuns = 1);

// Mean over concepts of the IoU of each label of `a` with the label of `b` it is matched to one
// to one (Hungarian, largest total IoU): 1 when two partitions are the same up to naming.
double labelAgreement(const at::Tensor& a, const at::Tensor& b, int concepts);

// How repeatable the k-means partition of the standardised patches is: the smallest
// labelAgreement between the partitions startLabels("kmeans", ..., kMeansRuns) finds from
// `restarts` seeds (seed + 7919 r): the partition preset's own k-means starts. Near 1 where the
// patches fall into I groups that every start finds (0.89-1.00 in every uniform cell of the
// recovery study that the true dual basis separates, 8,000 patches); 0.45-0.55 on the demo's and
// ConceptWorld's layers, whose patches show several concepts at once. 1 with fewer than 2
// restarts (nothing to compare). `startPartitions`, when given, receives the partitions by
// restart, so the partition preset can start from them instead of computing them again.
double kMeansAgreement(const at::Tensor& standardised, int concepts, uint64_t seed, int restarts,
                       int kMeansRuns, const CancelToken& cancel,
                       std::vector<at::Tensor>* startPartitions = nullptr);

struct LinearDetectors {
  at::Tensor weights;  // I x r: detector i fires where x . w_i > b_i
  at::Tensor biases;   // I
  // Mean over detectors of the logistic loss divided by the entropy of the detector's share:
  // 0 when the hyperplanes reproduce the labels exactly, 1 when they do no better than the
  // share alone (or a concept has no patch). Lower is a more separable partition.
  double unexplained = 1;
};

// One-vs-rest logistic regression of `labels` on the rows of `x` (P x r), all detectors at once
// by L-BFGS with a small L2 penalty (separable data would otherwise send the weights to
// infinity). Uses at most 20,000 rows.
LinearDetectors fitOneVsRest(const at::Tensor& x, const at::Tensor& labels, int concepts,
                             uint64_t seed, const CancelToken& cancel);

}  // namespace dx::eddp
