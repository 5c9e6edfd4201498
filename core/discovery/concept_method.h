#pragma once
// One interface for every concept-discovery method (EDDP and the unsupervised baselines), in the
// vocabulary of encoding-decoding direction pairs (docs/methods.md 1.1): a concept i is a *decoding
// direction* (detector, filter) w_i with bias b_i, present at a patch x exactly when
// w_i . x - b_i > 0, and an *encoding direction* s_i, how the concept is written into x.
// Each method states in its header what its decoder and encoder are.
//
// Tensors: float32, on any device; results come back on the device of the input activations.
// Only ATen's Tensor class is included here; implementations include <torch/torch.h>.
#include "discovery/method_registry.h"
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <ATen/core/Tensor.h>

#include "base/progress.h"
#include "discovery/reduction.h"

namespace dx {

// What a fit decided on its own from the data: EDDP's adaptive preset records the preset it ran
// and the agreement that chose it (eddp.h). Empty preset: nothing was decided.
struct FitChoice {
  std::string preset;
  double agreement = 0, threshold = 0;  // k-means agreement and the partition preset's threshold
  // Where partition was not chosen: ica-valley's repeatability and unclaimed share (eddp_valley.h)
  // and their thresholds; NaN where not measured.
  double valleyAgreement = NAN, valleyThreshold = NAN, unclaimed = NAN, unclaimedThreshold = NAN;
  // Encoders by ICA within firing groups (eddp/group_ica_encoders.h), where the preset asks for
  // them: the share of patches that fire exactly one detector and the least share at which the
  // step runs (NaN where not asked), the detectors whose encoders came from ICA, and why none
  // could where the step did not run ("" where it ran).
  double singleFiring = NAN, singleFiringThreshold = NAN;
  std::vector<int> icaEncoders;
  std::string icaSkipped;
  // Where balanced ran and left a degenerate detector (degenerate.h): its index and share of the
  // patches, and whether the partition preset, then fitted too, had none and was taken (preset is
  // then "partition"); -1 and NaN where balanced's detectors were not degenerate.
  int degenerateDetector = -1;
  double degenerateShare = NAN;
  bool partitionTaken = false;
};

// Fitted state, a value type. All directions live in the raw activation space of the layer.
struct ConceptBasis {
  std::string method;
  at::Tensor decoders;  // I x C, rows w_i
  at::Tensor biases;    // I, b_i
  at::Tensor encoders;  // I x C, rows s_i
  FitChoice choice{};  // a default initializer: {method, w, b, s} stays complete
  int concepts() const { return static_cast<int>(decoders.size(0)); }
  int channels() const { return static_cast<int>(decoders.size(1)); }
};

// The frozen rest of the network after the layer (f+ in docs/methods.md 1.4): N x C x h x w -> N x
// K logits, differentiable with respect to its input. EDDP's URA loss needs it; baselines ignore
// it.
//
// At a transformer layer the head also reads each image's class tokens (N x p x C), which a
// concept edit does not touch. They are bound to the head as its context, one row per image of
// the activations the head was made for; code that runs the head on some of those images takes
// rows(...) first. Called on a batch that matches neither the context's rows nor one row, such a
// head throws UserError instead of pairing patches with another image's class token.
class HeadFunction {
 public:
  using Plain = std::function<at::Tensor(const at::Tensor& z)>;
  using WithContext = std::function<at::Tensor(const at::Tensor& z, const at::Tensor& context)>;

  HeadFunction() = default;
  template <class F, class = std::enable_if_t<
                         !std::is_same_v<std::decay_t<F>, HeadFunction> &&
                         std::is_invocable_r_v<at::Tensor, F&, const at::Tensor&>>>
  HeadFunction(F f) : mPlain(std::move(f)) {}
  HeadFunction(WithContext f, at::Tensor context);

  at::Tensor operator()(const at::Tensor& z) const;
  // The head for the context rows `index` (int64, any device), or for start .. start + count.
  HeadFunction rows(const at::Tensor& index) const;
  HeadFunction rows(int64_t start, int64_t count) const;
  bool hasContext() const { return bool(mWithContext); }
  explicit operator bool() const { return bool(mPlain) || bool(mWithContext); }

 private:
  Plain mPlain;
  WithContext mWithContext;
  at::Tensor mContext;
};

struct FitOptions {
  int concepts = 8;               // I
  uint64_t seed = 0;              // fits are deterministic for a seed on the CPU
  std::string preset = "adaptive";  // EDDP: eddpPreset's names; baselines: ignored
  HeadFunction head;              // optional f+
  bool headStartsWithGlobalAvgPool = false;  // allows URA's pooled shortcut (docs/methods.md 1.4)
  // Patches are kept in memory as one float32 matrix up to this size; above it a fit streams them
  // block by block from the activations (discovery/patches.h), so its memory does not grow with N.
  int64_t keepPatchesBytes = int64_t(512) << 20;
  int64_t patchBlockRows = 0;  // rows per streamed block; 0: about 128 MB of float32 each
  ProgressSink progress;          // stage, epoch, loss terms
  CancelToken cancel;
  // The activations are this process's share of a data-parallel fit (methods that support it
  // say so in ConceptMethod::dataParallel); inactive by default.
  DataParallel parallel;
};

class ConceptMethod {
 public:
  virtual ~ConceptMethod() = default;
  virtual std::string name() const = 0;
  // What the decoder and encoder of this method are, in one sentence each (shown to users).
  virtual std::string decoderMeaning() const = 0;
  virtual std::string encoderMeaning() const = 0;
  // activations: N x C x h x w float32 (post-ReLU for NMF). Throws UserError on bad input
  // (too few patches, NaN, negative values for NMF), Cancelled when cancelled.
  virtual ConceptBasis fit(const at::Tensor& activations, const FitOptions& options) const = 0;
  // True when fit() accepts FitOptions::parallel: every process fits its share and the statistics
  // are summed, giving the single-process result within rounding.
  virtual bool dataParallel() const { return false; }
};

// A method of conceptMethodNames() (method_registry.h); throws UserError listing them.
std::unique_ptr<ConceptMethod> makeConceptMethod(const std::string& name);

// Patches as rows: N x C x h x w -> (N*h*w) x C, image-major then row-major positions.
at::Tensor patchesOf(const at::Tensor& activations);
// Detector scores w_i . x_p - b_i for every patch: P x C -> P x I.
at::Tensor conceptScores(const ConceptBasis& basis, const at::Tensor& patches);
// Checks activations are a finite 4-d float tensor with enough patches; throws UserError.
void checkActivations(const at::Tensor& activations, int concepts, const std::string& method);

}  // namespace dx
