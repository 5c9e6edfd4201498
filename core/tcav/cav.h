#pragma once
// Concept activation vectors (CAVs; Kim et al. 2018, docs/methods.md 3.1): the unit normal of a
// linear classifier that separates activations of a concept's images (label 1) from those of
// random images (label 0). TCAV trains on flattened C*h*w image vectors, SACV (docs/methods.md 3.2)
// on per-position C-vectors; this file only sees rows. Like the official TCAV code, trainCav
// balances the two sets, holds out a stratified 33% and reports the held-out accuracy; the CAV
// is the classifier fitted on the other 67%.
//
// Tensors: rows are float (any device); every computation runs on the device of the input and
// the returned direction lives there too. Fits are deterministic for a seed on the CPU.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace dx {

struct Cav {
  at::Tensor direction;         // D float32, unit norm
  double bias = 0;              // the classifier says "concept" where direction . x + bias > 0
  double heldOutAccuracy = std::numeric_limits<double>::quiet_NaN();  // NaN: not trained here
  std::string classifier;       // "logistic", "sgd", "mean" or "eddp-encoder"
  std::vector<int64_t> shape;   // what a direction refers to: {C, h, w} (TCAV) or {C} (SACV)
  std::string concept, random;  // names of the positive and negative sets, for reports
};

struct CavOptions {
  std::string classifier = "logistic";  // see cavClassifierNames()
  double c = 1.0;            // logistic: inverse L2 strength, sklearn's C (its default, as TCAV's)
  double alpha = 0.01;       // sgd: L2 strength, sklearn SGDClassifier's alpha (TCAV's value)
  int epochs = 50;           // sgd: passes over the training rows
  int batchSize = 16;        // sgd: rows per step
  double testFraction = 0.33;  // held-out share of each class
  bool balance = true;       // subsample the larger set to the size of the smaller (official code)
  // Consecutive rows that come from one sample (SACV: the h*w positions of an image): balancing
  // and the held-out split keep them together, so no image is on both sides of the split.
  int64_t rowsPerGroup = 1;
  uint64_t seed = 0;         // subsampling, split and SGD order
};

// "logistic", "sgd", "mean".
std::vector<std::string> cavClassifierNames();

// A fitted hyperplane w . x + b in the input's units (not normalised).
struct LinearModel {
  at::Tensor weights;  // D float64 on the input's device
  double bias = 0;
  int iterations = 0;
};

// x: n x D float, y: n with 1 (concept) or 0. All three throw UserError unless both labels occur.
//
// L2-regularised logistic regression, sklearn.linear_model.LogisticRegression(C=c) exactly:
// minimises 0.5 |w|^2 + c sum_i log(1 + exp(-s_i (w . x_i + b))), s = 2y - 1, b unpenalised.
// Damped Newton (IRLS) in float64; when D > n the optimum lies in the row space of x (the
// gradient in w is w minus a combination of rows), so Newton runs on the n coordinates of an
// orthonormal basis of that space (QR of x^T) and the Hessian is at most (min(n, D) + 1)^2.
LinearModel fitLogisticRegression(const at::Tensor& x, const at::Tensor& y, double c,
                                  int maxIterations = 100);
// Linear SVM by mini-batch SGD on the hinge loss with L2 strength alpha: step
// 1 / (alpha (t0 + t)) as sklearn's "optimal" schedule (t0 from Bottou's heuristic), rows
// reshuffled each epoch from `seed`, the result averaged over the second half of the steps.
LinearModel fitLinearSvmSgd(const at::Tensor& x, const at::Tensor& y, double alpha, int epochs,
                            int batchSize, uint64_t seed);
// w = mean(concept rows) - mean(random rows), b puts the boundary half way between the means.
LinearModel fitMeanDifference(const at::Tensor& x, const at::Tensor& y);

// positives: n1 x D, negatives: n0 x D (rows of the same space). Throws UserError when a set has
// fewer than 2 rows, when the classifier is unknown, or when the sets cannot be separated at all
// (zero direction). shape is set to {D}; callers that flattened images overwrite it.
Cav trainCav(const at::Tensor& positives, const at::Tensor& negatives, const CavOptions& options);

// Writes stem.npy (the direction, float32) and stem.json (bias, accuracy, classifier, shape,
// names). Throws UserError when a file cannot be written.
void saveCav(const Cav& cav, const std::string& stem);
// Reads what saveCav wrote (direction on the CPU). Throws UserError naming the file.
Cav loadCav(const std::string& stem);

}  // namespace dx
