// EDDP on the ConceptWorld CNN (resources/demo/conceptworld_cnn.pt) against the ground truth:
// in most fits (counts in the first test below) the watermark shortcut is found as a concept
// (dissection against the masks), shown to drive red_circle (influence), and switching it off
// wins back accuracy on watermarked images of the other classes without hurting clean red_circle
// images.
#include <gtest/gtest.h>

#include "analysis/concept_session.h"
#include "labeling/concept_labeling.h"
#include "model/concept_model.h"
#include "model/head_module.h"
#include "conceptworld/conceptworld_eval.h"
#include "data/demo.h"
#include "activations/extractor.h"
#include "base/tensor_io.h"
#include "temp_dir.h"

using namespace dx;

namespace {

ActivationCache extract(std::shared_ptr<const ConceptModel> model, const ConceptWorldSpec& spec,
                        const std::string& dir) {
  ExtractionRequest r;
  r.model = model;
  r.source = std::make_shared<ConceptWorld>(spec);
  r.layer = "block4";
  r.outDir = dir;
  return ActivationCache(extractActivations(r).dir);
}

}  // namespace

// The balanced preset's fit (what the default, adaptive, runs on this layer) is chaotic in its last bits (discovery/eddp.cpp): another seed, or
// another CPU's rounding of the same sums (OpenBLAS picks kernels per CPU), lands in another
// optimum. Measured over fit seeds 0-4 with the exact sums of Patches::exactSums:
// - one CPU: a detector labelled watermark in all five (IoU >= 0.18); it drives red_circle
//   (influence > 0.1, p < 0.2) and switching it off wins accuracy back in three (1, 3, 4);
// - an AVX-512 CPU: labelled watermark in four (IoU 0.30, 0.14, 0.24, 0.19; seed 1's best
//   detector, IoU 0.13, is labelled otherwise); drives red_circle with a winning switch-off in
//   three (0, 2, 3); in seed 4 it does not, and switching it off costs accuracy (0.89 -> 0.72);
// - an AMD EPYC CPU: labelled watermark in all five (IoU 0.18-0.25); drives red_circle with a
//   winning switch-off in one (seed 1: +0.58, p 0.13, 0.893 -> 0.923); seed 3 drives it (+0.22,
//   p 0.16) but its switch-off wins +0.9%; in seeds 0 and 2 switching it off costs accuracy
//   (0.89 -> 0.75 and 0.62);
// - the same AMD EPYC CPU once the balanced preset's ICA start read the whitened patches' leading
//   columns (eddp_starts.h "ica-whitened"): labelled watermark in all five (IoU 0.17-0.32);
//   drives red_circle (+0.27 to +0.36, p 0.003-0.17) with a winning switch-off in four (0, 1, 2,
//   4: +1.3% to +2.2%); seed 3 +0.10, p 0.48, +0.5%.
// So this states what a user who refits can rely on: the watermark is found (labelled,
// IoU > 0.1) in at least 3 of 5 fits (one seed of margin below the worst CPU measured), and in
// at least 1 of 5 it drives red_circle and switching it off wins accuracy back (+1%; the EPYC CPU
// left no margin with the earlier ICA start, three fits of margin with the current one). Every
// fit keeps clean red_circle images' accuracy and S1 > 2, and no switch-off lifts watermarked
// images above clean ones. Making every fit find it needs a balanced preset that is stable across seeds.
TEST(ConceptWorldConcepts, EddpFindsTheWatermarkAndSwitchingItOffRecoversAccuracy) {
  configureTorchThreads();
  test::TempDir dir;
  auto model = ConceptModel::load(conceptWorldModelPath());
  ConceptWorldSpec mixed = conceptWorldDefaults(ConceptWorldSpec::Test);
  mixed.count = 1000;
  ConceptWorldSpec marked = mixed, clean = mixed;
  marked.testRate = 1.0;
  clean.watermark = false;
  auto mixedCache = extract(model, mixed, dir / "mixed");
  auto markedCache = extract(model, marked, dir / "marked");
  auto cleanCache = extract(model, clean, dir / "clean");
  auto activations = readNpyTensor(mixedCache.dir() + "/activations.npy");
  ConceptWorld world(mixed);

  FitOptions o;
  o.concepts = 32;
  // The balanced preset (the default, adaptive, fits it on this layer: its k-means agreement was
  // 0.42-0.48 on the train split's block4; 0.54 with engine version 10's best-of-5 starts). The
  // quick preset, which this scenario was first built on, passed or
  // failed with float rounding (a 1e-7 change of the channel mean turned its switch-off from
  // +0.4% to -0.4% accuracy).
  o.preset = "balanced";
  o.head = loadHeadModule(conceptWorldModelPath(), "block4");
  auto eddp = makeConceptMethod("eddp");
  const int seeds = 5;
  int found = 0, recovered = 0;
  for (int seed = 0; seed < seeds; ++seed) {
    o.seed = uint64_t(seed);
    auto basis = eddp->fit(activations, o);
    auto d = dissectConceptWorld(world, basis, mixedCache);
    auto w = studyWatermark(world, basis, o.head, d, markedCache, cleanCache);
    std::printf("seed %d: detector %d IoU %.3f, influence %.3f (p %.3f), accuracy %.3f -> %.3f "
                "(clean %.3f), clean red_circle %.3f -> %.3f, S1 %.2f\n",
                seed, w.detector, w.iou, w.influence, w.pValue, w.accuracyBefore,
                w.accuracyAfter, w.cleanAccuracy, w.cleanClassAccuracyBefore,
                w.cleanClassAccuracyAfter, d.s1);
    ASSERT_GE(w.detector, 0) << "seed " << seed;
    const bool isFound = d.label[size_t(w.detector)] == cw::Watermark && w.iou > 0.1;
    found += isFound;
    EXPECT_LE(w.accuracyAfter, w.cleanAccuracy + 0.02) << "seed " << seed;
    EXPECT_GT(w.cleanClassAccuracyAfter, w.cleanClassAccuracyBefore - 0.03) << "seed " << seed;
    EXPECT_GT(d.s1, 2.0) << "seed " << seed;
    // Amplified, it raises red_circle's logit, but these fits' watermark detectors drive it
    // weakly (+0.3 to +0.6 logits): against the default null p was 0.02-0.93 over the five fits
    // (0.07-0.96 with Euclidean-sized edits; +0.10 to +0.36, p 0.003-0.48, with the current ICA
    // start on one CPU), so switching it off is the stronger evidence.
    if (isFound && w.influence > 0.1 && w.pValue < 0.2 &&
        w.accuracyAfter > w.accuracyBefore + 0.01)
      ++recovered;
  }
  EXPECT_GE(found, 3) << "the watermark was found in only " << found << " of " << seeds
                       << " fits";
  EXPECT_GE(recovered, 1) << "the watermark drove red_circle and its switch-off won accuracy "
                             "back in only " << recovered << " of " << seeds << " fits";
}

// Issue: the audit must call the watermark a bias of red_circle. On the training split the
// watermark co-occurs with red_circle (95% against 2%) and the model learnt to use it; its INVERT
// label names the watermark, which is not part of the class.
TEST(ConceptWorldConcepts, AuditCallsTheWatermarkABiasOfRedCircle) {
  configureTorchThreads();
  test::TempDir dir;
  std::shared_ptr<const ConceptModel> model = ConceptModel::load(conceptWorldModelPath());
  ConceptWorldSpec train = conceptWorldDefaults(ConceptWorldSpec::Train);
  train.count = 1000;
  auto world = std::make_shared<ConceptWorld>(train);
  auto cache = std::make_shared<const ActivationCache>(extract(model, train, dir / "train"));
  DiscoverySettings settings;
  settings.concepts = 32;
  auto session = ConceptSession::discover(model, cache, settings, dir / "concepts");
  session->setImages(world);
  applyConceptLabels(*session, labelConcepts(*session, {}));
  AuditResult audit = session->auditCategories();

  const int redCircle = cw::RedCircle;
  int watermarkBias = 0, watermarkTarget = 0, partTarget = 0;
  for (const AuditCell& c : audit.cells) {
    if (c.cls != redCircle) continue;
    auto words = labelWords(session->concept(c.concept).label);
    bool watermark = std::find(words.begin(), words.end(), "watermark") != words.end();
    std::printf("red_circle: concept %d \"%s\" %s, present %.2f vs %.2f, drop %.2f (p %.2g)\n",
                c.concept, session->conceptName(c.concept).c_str(), auditCategoryName(c.category),
                c.shareInClass, c.shareElsewhere, c.meanDrop, c.dropP);
    if (watermark && c.category == AuditCategory::Bias) ++watermarkBias;
    if (watermark && c.category == AuditCategory::Target) ++watermarkTarget;
    if (!watermark && c.category == AuditCategory::Target) ++partTarget;
  }
  EXPECT_GE(watermarkBias, 1) << "no concept labelled watermark is a bias of red_circle";
  EXPECT_EQ(watermarkTarget, 0);
  EXPECT_GE(partTarget, 1) << "red or circle should be red_circle's target";
}

// The chance level of S1 / S2 (conceptworld_eval.h): random directions that fire on exactly the
// shares the method's detectors fire on, including a detector that never fires and one that
// always does.
TEST(ConceptWorldChance, RandomDetectorsFireOnTheMethodsShares) {
  auto gen = at::detail::createCPUGenerator(3);
  auto patches = torch::relu(torch::randn({4000, 12}, gen));
  ConceptBasis basis;
  basis.method = "test";
  basis.decoders = torch::randn({5, 12}, gen);
  basis.encoders = basis.decoders.clone();
  basis.biases = torch::tensor({0.5f, 2.0f, -1.0f, 1e6f, -1e6f});
  auto shares = (conceptScores(basis, patches) > 0).sum(0);
  auto chance = chanceBasis(basis, patches, 7);
  auto chanceShares = (conceptScores(chance, patches) > 0).sum(0);
  EXPECT_TRUE(torch::equal(shares, chanceShares)) << shares << chanceShares;
  EXPECT_EQ(chanceShares[3].item<int64_t>(), 0);
  EXPECT_EQ(chanceShares[4].item<int64_t>(), 4000);
  // Other directions than the method's, and other ones for another seed.
  auto cosines = torch::nn::functional::cosine_similarity(
      chance.decoders, basis.decoders, torch::nn::functional::CosineSimilarityFuncOptions().dim(1));
  EXPECT_LT(cosines.abs().max().item<float>(), 0.99f);
  EXPECT_FALSE(torch::equal(chance.decoders, chanceBasis(basis, patches, 8).decoders));
}
