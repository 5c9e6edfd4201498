#pragma once
// TCAV, testing with concept activation vectors (Kim et al. 2018; docs/methods.md 3.1).
// Directional derivative of class k at layer l for an image x with activations z = f_l(x):
//   S(x) = grad_z logit_k(z) . v
// (the logit's gradient; the official TensorFlow code differentiates the loss and counts S < 0,
// which has the opposite sign and the same meaning). TCAV score = fraction of class-k images with
// S > 0; the mean of S is reported as the magnitude.
//
// Significance: R runs. Concept run r trains a CAV of the concept against random set r. Null runs
// (random vs random, the paper's baseline) pair the random sets two by two, (0, 1), (2, 3), ...:
// no set is in two null runs, so the null scores are independent (n sets give n / 2 of them; at
// least 4 sets are needed for a test). A two-sided t-test (Student's, as the official code's
// scipy.stats.ttest_ind; Welch's on request) compares concept scores with null scores;
// significant when p <= significance / (number of concepts) (Bonferroni).
//
// Fixed directions (an EDDP encoding direction, a saved CAV) have one score, not one per run:
// it is judged as one more draw from the null scores' distribution (a normal prediction
// interval, t_test.h), whose width does not shrink with more runs.
//
// Concepts whose CAVs tell their images from random ones at near-chance held-out accuracy
// (mean < TcavOptions::minAccuracy) are flagged and never significant: their direction is noise.
// Relative CAVs (TcavOptions::relative) train concept A against concept B instead of random.
//
// With TcavOptions::spatial the same runs use SACV (sacv.h): CAVs on positions, and the score of a
// run is the fraction of concept positions (R > 0) of the class images whose contribution S > 0.
//
// Caveat: when the head is global average pooling + linear (the last conv layer of most CNNs),
// grad_z logit_k is the same for every image, so every run scores 0 or 1; TcavResult flags it.
// A layer one block earlier gives per-image scores. SACV there is refused (UserError): the
// gradient is also the same at every position, so its maps carry no contribution.
//
// Tensors: activations n x C x h x w float32 on any device; gradients are computed there.
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "tcav/cav.h"
#include "discovery/concept_method.h"
#include "base/progress.h"

namespace dx {

// d logit_k / d z for every image, by autograd through `head` in batches: n x C x h x w on z's
// device. Works whatever the caller's grad mode. Throws Cancelled between batches.
at::Tensor logitGradients(const HeadFunction& head, const at::Tensor& z, int64_t k,
                          int batchSize = 64, const CancelToken& cancel = {});

struct DirectionalScore {
  double score = 0;           // fraction of images with S > 0
  double meanDerivative = 0;  // mean of S
};

// gradients: n x C x h x w. A direction of C*h*w values is used as it is; one of C values is
// broadcast over the positions (S = sum_p g_p . v), as for EDDP encoding directions.
DirectionalScore tcavScore(const at::Tensor& gradients, const at::Tensor& direction);

// Row i of basis.encoders as a fixed direction of shape {C} (unit norm, bias 0, no accuracy).
Cav encoderCav(const ConceptBasis& basis, int concept, const std::string& name);

struct ConceptSet {
  std::string name;
  at::Tensor activations;  // n x C x h x w
};

struct TcavOptions {
  CavOptions cav;             // classifier and its settings; run r uses seed cav.seed + r
  int runs = 0;               // 0 = one per random set; at most the number of random sets
  bool spatial = false;       // SACV instead of flattened CAVs
  bool welch = false;         // Welch's t-test instead of Student's
  double significance = 0.05; // family-wise, divided by the number of concepts
  double minAccuracy = 0.6;   // mean held-out CAV accuracy below this: near chance, not tested
  // Relative CAVs: pairs (a, b) of indices into the concept sets; run r trains a against b.
  std::vector<std::pair<size_t, size_t>> relative;
  int batchSize = 64;         // images per backward pass
  std::string earlierLayer;   // a shallower layer to name when SACV is refused here (may be empty)
  ProgressSink progress;
  CancelToken cancel;
};

struct ConceptTcav {
  std::string name;
  bool fixed = false;                   // a fixed direction (one score)
  std::vector<Cav> cavs;                // one per run (one when fixed)
  std::vector<double> scores;           // TCAV (or SACV) score per run
  std::vector<double> meanDerivatives;  // mean S per run (SACV: mean sum of max(R,0) S)
  double mean = 0, std = 0;             // over runs (std with ddof 1; 0 for one run)
  double t = 0, pValue = 1;             // t > 0: scores above the random baseline; NaN p: untested
  bool significant = false;
  bool nearChance = false;              // CAVs barely beat chance: left out of significance
  int undefinedRuns = 0;                // SACV runs with no concept position (score NaN, left out)
};

struct TcavResult {
  int64_t classIndex = 0;
  int64_t classImages = 0;
  std::vector<Cav> randomCavs;          // null run CAVs (random set 2j vs 2j + 1)
  std::vector<double> randomScores, randomMeanDerivatives;
  std::vector<ConceptTcav> concepts;    // trained concepts first, then fixed directions
  double threshold = 0;                 // significance / concepts
  bool constantGradient = false;        // every class image has the same gradient (see above)
};

// classActivations: activations of images of class k. concepts: sets to train CAVs for; randoms:
// at least 2 random sets; fixed: directions used as they are. Throws UserError on bad input
// (too few sets or images, shapes that disagree), Cancelled when cancelled.
TcavResult runTcav(const HeadFunction& head, const at::Tensor& classActivations, int64_t k,
                   const std::vector<ConceptSet>& concepts, const std::vector<ConceptSet>& randoms,
                   const std::vector<Cav>& fixed, const TcavOptions& options);

}  // namespace dx
