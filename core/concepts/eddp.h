#pragma once
// Encoding-decoding direction pairs (Doumanoglou, Driessens, Zarpalas, arXiv 2509.23926;
// METHODS.md 1.2-1.5). Decoder: the learned detector hyperplane (w_i, b_i) of "directional
// clustering", refined jointly with their signal vectors under constrained URA (and, in the
// paper preset, a last stage of our own that makes each filter read one latent factor; see
// eddpPreset); encoder: the concept's signal vector s_i (w_i . s_i = 1). Runs on the device of the activations;
// deterministic for a seed on the CPU.
#include <memory>
#include <string>
#include <vector>

#include "concept_method.h"

namespace cs {

// One training stage of METHODS 1.5; weights of the loss terms are the paper's.
struct EddpStage {
  std::string name;     // "a", "b", "d", "e"
  int epochs = 0;       // an upper bound: early stopping on the epoch loss
  double lr = 1e-3;     // Adam
  double tau = 0.9;     // inactive-classifier target nu = tau / I
  double rhoFactor = 0; // excessively-active bound rho = rhoFactor * tau / I
  double sparsity = 0, sparsityBound = 0, maxActivation = 0, maxMargin = 0, inactive = 0,
         ura = 0, excessive = 0, filterSignal = 0, kurtosis = 0;
  bool orthogonal = false;    // W kept orthogonal (stage a)
  bool standardised = false;  // features (x - m) / sigma (stage a)
  bool constrained = false;   // URA shift inside span(S) and L_fso, S from the filters (stage d)
  bool fixedSchedule = false; // every epoch at the stage's lr: no reduce-on-plateau, no early stop
};

struct EddpPreset {
  std::vector<EddpStage> stages;
  int batchImages = 4096;
  int plateauPatience = 10;  // epochs without improvement before lr x 0.5
  int stopPatience = 30;     // epochs without improvement before the stage ends
  int restarts = 4;          // stage a runs from this many initialisations, the best is kept
  double gamma = 2.0;        // exponent of E_p[y^gamma]; the paper's value is not published
};

// "paper" (the published schedule) or "quick" (same losses, fewer epochs, for interactive use).
EddpPreset eddpPreset(const std::string& name);
std::unique_ptr<ConceptMethod> makeEddpMethod();

}  // namespace cs
