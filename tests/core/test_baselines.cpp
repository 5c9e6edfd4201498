// Concept methods: one contract every registered method meets (EDDP and the unsupervised
// baselines), then per-baseline behaviour on planted problems whose answer is known.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "discovery/baselines.h"
#include "discovery/concept_method.h"

namespace {

// Every method the registry offers (the CLI's --method and the GUI's list), EDDP included.
std::vector<std::string> allMethods() { return dx::conceptMethodNames(); }

at::Generator generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

// P x C patches -> N x C x h x w activations with h = w = 4 (P must be a multiple of 16), the
// inverse of the patch order the interface documents.
at::Tensor asActivations(const at::Tensor& patches) {
  return patches.reshape({-1, 4, 4, patches.size(1)}).permute({0, 3, 1, 2}).contiguous();
}

at::Tensor scores(const dx::ConceptBasis& basis, const at::Tensor& patches) {
  return patches.matmul(basis.decoders.t()) - basis.biases;
}

dx::FitOptions optionsFor(int concepts, uint64_t seed = 7) {
  dx::FitOptions options;
  options.concepts = concepts;
  options.seed = seed;
  return options;
}

// Non-negative (post-ReLU-like) activations with some structure, so every method applies.
at::Tensor contractActivations() {
  auto gen = generator(1);
  at::Tensor centres = torch::rand({3, 6}, gen) * 4;
  at::Tensor member = torch::randint(3, {128}, gen, torch::kLong);
  return asActivations(torch::relu(centres.index_select(0, member) + torch::randn({128, 6}, gen)));
}

at::Tensor cosines(const at::Tensor& a, const at::Tensor& b) {
  auto unit = [](const at::Tensor& x) { return x / x.norm(2, {1}, true); };
  return unit(a).matmul(unit(b).t());
}

// Index of the row of `found` matched to each row of `truth` by largest cosine (greedy, each
// row used once; enough for the well-separated planted problems here).
std::vector<int64_t> matching(const at::Tensor& truth, const at::Tensor& found) {
  at::Tensor cos = cosines(truth, found);
  std::vector<int64_t> picks;
  std::vector<bool> used(size_t(found.size(0)), false);
  for (int64_t i = 0; i < truth.size(0); ++i) {
    int64_t pick = -1;
    for (int64_t j = 0; j < found.size(0); ++j)
      if (!used[size_t(j)] && (pick < 0 || cos[i][j].item<float>() > cos[i][pick].item<float>()))
        pick = j;
    used[size_t(pick)] = true;
    picks.push_back(pick);
  }
  return picks;
}

// Cosine of each truth row with its matched row of `found`.
at::Tensor matchedCosines(const at::Tensor& truth, const at::Tensor& found) {
  at::Tensor cos = cosines(truth, found);
  std::vector<int64_t> match = matching(truth, found);
  std::vector<float> best;
  for (size_t i = 0; i < match.size(); ++i) best.push_back(cos[int64_t(i)][match[i]].item<float>());
  return torch::tensor(best);
}

class ConceptMethodContract : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<dx::ConceptMethod> method = dx::makeConceptMethod(GetParam());
};

TEST_P(ConceptMethodContract, NameAndMeaningsAreStated) {
  EXPECT_EQ(method->name(), GetParam());
  EXPECT_GT(method->decoderMeaning().size(), 20u);
  EXPECT_GT(method->encoderMeaning().size(), 20u);
}

TEST_P(ConceptMethodContract, ShapesAreIByCAndFinite) {
  dx::ConceptBasis basis = method->fit(contractActivations(), optionsFor(3));
  EXPECT_EQ(basis.method, GetParam());
  ASSERT_EQ(basis.decoders.sizes(), (std::vector<int64_t>{3, 6}));
  ASSERT_EQ(basis.biases.sizes(), (std::vector<int64_t>{3}));
  ASSERT_EQ(basis.encoders.sizes(), (std::vector<int64_t>{3, 6}));
  for (const at::Tensor& t : {basis.decoders, basis.biases, basis.encoders}) {
    EXPECT_EQ(t.scalar_type(), torch::kFloat32);
    EXPECT_TRUE(torch::isfinite(t).all().item<bool>());
  }
  EXPECT_EQ(basis.concepts(), 3);
  EXPECT_EQ(basis.channels(), 6);
}

TEST_P(ConceptMethodContract, DeterministicForASeed) {
  at::Tensor activations = contractActivations();
  dx::ConceptBasis a = method->fit(activations, optionsFor(3, 11));
  dx::ConceptBasis b = method->fit(activations, optionsFor(3, 11));
  EXPECT_TRUE(torch::equal(a.decoders, b.decoders));
  EXPECT_TRUE(torch::equal(a.biases, b.biases));
  EXPECT_TRUE(torch::equal(a.encoders, b.encoders));
}

TEST_P(ConceptMethodContract, ReportsProgressWithinTotal) {
  dx::FitOptions options = optionsFor(3);
  int reports = 0;
  options.progress = [&](const dx::Progress& p) {
    ++reports;
    EXPECT_FALSE(p.stage.empty());
    if (p.total > 0) {
      EXPECT_LE(p.done, p.total);
    }
  };
  method->fit(contractActivations(), options);
  EXPECT_GT(reports, 0);
}

TEST_P(ConceptMethodContract, CancelledTokenStopsTheFit) {
  dx::FitOptions options = optionsFor(3);
  options.cancel.cancel();
  EXPECT_THROW(method->fit(contractActivations(), options), dx::Cancelled);
}

TEST_P(ConceptMethodContract, CancelDuringTheFitStopsIt) {
  dx::FitOptions options = optionsFor(3);
  options.progress = [token = options.cancel](const dx::Progress&) mutable { token.cancel(); };
  EXPECT_THROW(method->fit(contractActivations(), options), dx::Cancelled);
}

TEST_P(ConceptMethodContract, NanOrInfIsAUserError) {
  for (float bad : {NAN, INFINITY}) {
    at::Tensor activations = contractActivations();
    activations[0][2][1][1] = bad;
    try {
      method->fit(activations, optionsFor(3));
      ADD_FAILURE() << "no error for " << bad;
    } catch (const dx::UserError& e) {
      EXPECT_NE(std::string(e.what()).find("NaN or Inf"), std::string::npos) << e.what();
    }
  }
}

TEST_P(ConceptMethodContract, BadShapesAndCountsAreUserErrors) {
  at::Tensor activations = contractActivations();
  EXPECT_THROW(method->fit(activations.flatten(2), optionsFor(3)), dx::UserError);
  EXPECT_THROW(method->fit(activations.to(torch::kLong), optionsFor(3)), dx::UserError);
  EXPECT_THROW(method->fit(activations, optionsFor(0)), dx::UserError);
  EXPECT_THROW(method->fit(activations.narrow(0, 0, 1).narrow(2, 0, 1), optionsFor(5)),
               dx::UserError);  // 4 patches for 5 concepts
}

INSTANTIATE_TEST_SUITE_P(AllMethods, ConceptMethodContract, ::testing::ValuesIn(allMethods()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             if (c == '-') c = '_';
                           return name;
                         });

// --- PCA --------------------------------------------------------------------------------------

TEST(Pca, RecoversTopEigenvectorsOfAPlantedCovariance) {
  auto gen = generator(2);
  const int64_t channels = 8, count = 4096;
  at::Tensor basis = std::get<0>(torch::linalg::qr(torch::randn({channels, channels}, gen)));
  at::Tensor stddev = torch::tensor({3.f, 2.f, 1.5f, 0.5f, 0.4f, 0.3f, 0.2f, 0.1f});
  at::Tensor offset = torch::full({channels}, 10.f);  // a large mean must not disturb the result
  at::Tensor patches = (torch::randn({count, channels}, gen) * stddev).matmul(basis.t()) + offset;
  dx::ConceptBasis fit = dx::makePcaMethod()->fit(asActivations(patches), optionsFor(3));
  for (int64_t i = 0; i < 3; ++i) {
    float cos = fit.decoders[i].dot(basis.select(1, i)).item<float>();
    EXPECT_GT(std::abs(cos), 0.99f) << "component " << i;
  }
  EXPECT_TRUE(torch::allclose(fit.decoders, fit.encoders));
  // Present one standard deviation above the mean: about 16% of Gaussian patches.
  at::Tensor firing = (scores(fit, patches) > 0).to(torch::kFloat32).mean(0);
  EXPECT_TRUE(((firing > 0.12) & (firing < 0.20)).all().item<bool>()) << firing;
}

TEST(Pca, RefusesMoreConceptsThanChannels) {
  EXPECT_THROW(dx::makePcaMethod()->fit(contractActivations(), optionsFor(7)), dx::UserError);
}

// --- NMF --------------------------------------------------------------------------------------

namespace {

// Patches U V with `rank` non-negative parts V (rank x channels). Sparse coefficients (each part
// missing from about half the patches) make the factors unique.
struct LowRank {
  at::Tensor patches, parts;
};
LowRank plantedNonNegative(int64_t count, int64_t channels, int64_t rank, uint64_t seed) {
  auto gen = generator(seed);
  at::Tensor u = torch::rand({count, rank}, gen) * (torch::rand({count, rank}, gen) > 0.5);
  at::Tensor v = torch::rand({rank, channels}, gen) * (torch::rand({rank, channels}, gen) > 0.3);
  return {u.matmul(v), v};
}

}  // namespace

TEST(Nmf, ReconstructsAPlantedNonNegativeLowRankMatrix) {
  const int64_t rank = 3;
  auto [patches, v] = plantedNonNegative(2048, 12, rank, 3);
  dx::ConceptBasis fit = dx::makeNmfMethod()->fit(asActivations(patches), optionsFor(rank));
  EXPECT_TRUE((fit.encoders >= 0).all().item<bool>());
  // The decoders estimate the coefficients, the encoders put the parts back.
  at::Tensor rebuilt = torch::relu(patches.matmul(fit.decoders.t())).matmul(fit.encoders);
  float relative = ((rebuilt - patches).norm() / patches.norm()).item<float>();
  EXPECT_LT(relative, 0.05f);
  EXPECT_GT(matchedCosines(v, fit.encoders).min().item<float>(), 0.98f);
}

// Beyond 131,072 patches NMF fits a seeded sample (nmf.cpp, kMaxFitPatches) of every image's
// patches.
TEST(Nmf, FitsMorePatchesThanItsSampleHolds) {
  const int64_t channels = 8, rank = 3;
  auto [patches, v] = plantedNonNegative(140000, channels, rank, 5);
  dx::ConceptBasis fit = dx::makeNmfMethod()->fit(asActivations(patches), optionsFor(rank));
  EXPECT_EQ(fit.encoders.sizes(), (at::IntArrayRef{rank, channels}));
  EXPECT_GT(matchedCosines(v, fit.encoders).min().item<float>(), 0.98f);
}

TEST(Nmf, RejectsNegativeActivationsNamingTheFix) {
  at::Tensor activations = contractActivations() - 1;
  try {
    dx::makeNmfMethod()->fit(activations, optionsFor(3));
    FAIL() << "negative activations were accepted";
  } catch (const dx::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("non-negative"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ReLU"), std::string::npos) << e.what();
  }
}

// --- k-means and spherical k-means ---------------------------------------------------------------

struct PlantedClusters {
  at::Tensor patches;  // P x C
  at::Tensor labels;   // P
  at::Tensor centres;  // K x C, relative to the mean of all patches
};

// K clusters along orthogonal directions around a common offset. `spreadNorms` scales each
// patch's offset from the centre of the data by U(0.5, 2), which only the cosine geometry ignores.
PlantedClusters plantedClusters(int64_t k, bool spreadNorms) {
  auto gen = generator(4);
  const int64_t channels = 10, count = 1600;
  at::Tensor directions =
      std::get<0>(torch::linalg::qr(torch::randn({channels, channels}, gen))).narrow(1, 0, k).t();
  at::Tensor labels = torch::arange(count) % k;
  at::Tensor radius =
      spreadNorms ? torch::rand({count, 1}, gen) * 1.5 + 0.5 : torch::ones({count, 1});
  at::Tensor noise = 0.25 * torch::randn({count, channels}, gen);
  at::Tensor centred = radius * (4 * directions.index_select(0, labels) + noise);
  at::Tensor patches = centred + 3;
  return {patches, labels, 4 * directions - 4 * directions.mean(0)};
}

// Fraction of each planted cluster on which its matched detector fires, and of the rest.
std::pair<at::Tensor, at::Tensor> firingRates(const dx::ConceptBasis& fit,
                                              const PlantedClusters& data,
                                              const std::vector<int64_t>& match) {
  at::Tensor fires = scores(fit, data.patches) > 0;
  std::vector<float> own, others;
  for (int64_t i = 0; i < data.centres.size(0); ++i) {
    at::Tensor column = fires.select(1, match[size_t(i)]).to(torch::kFloat32);
    at::Tensor member = data.labels == i;
    own.push_back(column.masked_select(member).mean().item<float>());
    others.push_back(column.masked_select(~member).mean().item<float>());
  }
  return {torch::tensor(own), torch::tensor(others)};
}

TEST(KMeans, RecoversPlantedCentresAndDetectsEachCluster) {
  PlantedClusters data = plantedClusters(4, false);
  dx::ConceptBasis fit = dx::makeKMeansMethod()->fit(asActivations(data.patches), optionsFor(4));
  EXPECT_GT(matchedCosines(data.centres, fit.encoders).min().item<float>(), 0.98f);
  auto [own, others] = firingRates(fit, data, matching(data.centres, fit.encoders));
  EXPECT_GT(own.min().item<float>(), 0.9f) << own;
  EXPECT_LT(others.max().item<float>(), 0.1f) << others;
}

TEST(SphericalKMeans, RecoversPlantedDirectionsWhateverThePatchNorms) {
  PlantedClusters data = plantedClusters(4, true);
  dx::ConceptBasis fit =
      dx::makeSphericalKMeansMethod()->fit(asActivations(data.patches), optionsFor(4));
  at::Tensor norms = fit.decoders.norm(2, {1});
  EXPECT_TRUE(torch::allclose(norms, torch::ones_like(norms), 1e-4, 1e-4));
  EXPECT_GT(matchedCosines(data.centres, fit.decoders).min().item<float>(), 0.98f);
  EXPECT_GT(matchedCosines(data.centres, fit.encoders).min().item<float>(), 0.98f);
  auto [own, others] = firingRates(fit, data, matching(data.centres, fit.decoders));
  EXPECT_GT(own.min().item<float>(), 0.9f) << own;
  EXPECT_LT(others.max().item<float>(), 0.1f) << others;
}

TEST(KMeans, MoreConceptsThanDistinctPatchesStillFinishes) {
  at::Tensor patches = torch::ones({32, 3});
  patches.narrow(0, 0, 16) *= 2;  // two distinct patches, four clusters asked for
  dx::ConceptBasis fit = dx::makeKMeansMethod()->fit(asActivations(patches), optionsFor(4));
  EXPECT_TRUE(torch::isfinite(fit.decoders).all().item<bool>());
  EXPECT_TRUE(torch::isfinite(fit.biases).all().item<bool>());
}

// --- sparse autoencoder -------------------------------------------------------------------------

// Best reconstruction x ~= o + c_p s_i(p) with one encoder per patch, i(p) the detector with the
// largest score, a shared offset o and per-patch coefficients c_p (alternating least squares).
// Returns the residual sum of squares.
float oneEncoderResidual(const dx::ConceptBasis& fit, const at::Tensor& patches) {
  at::Tensor direction = fit.encoders.index_select(0, scores(fit, patches).argmax(1));
  at::Tensor offset = patches.mean(0), residual;
  for (int round = 0; round < 20; ++round) {
    at::Tensor coefficient =
        ((patches - offset) * direction).sum(1, true) / direction.pow(2).sum(1, true);
    offset = (patches - coefficient * direction).mean(0);
    residual = patches - offset - coefficient * direction;
  }
  return residual.pow(2).sum().item<float>();
}

TEST(SparseAutoencoder, RecoversPlantedSparseDictionaryAndDetectsItsAtoms) {
  auto gen = generator(5);
  const int64_t count = 2048, channels = 16, atoms = 8;  // k = max(1, 8 / 8) = 1 active latent
  at::Tensor dictionary = torch::randn({atoms, channels}, gen);
  dictionary /= dictionary.norm(2, {1}, true);
  at::Tensor which = torch::randint(atoms, {count}, gen, torch::kLong);
  at::Tensor strength = torch::rand({count, 1}, gen) * 2 + 1;
  at::Tensor patches = strength * dictionary.index_select(0, which) +
                       0.02 * torch::randn({count, channels}, gen) + 0.5;
  dx::ConceptBasis fit =
      dx::makeSparseAutoencoderMethod()->fit(asActivations(patches), optionsFor(int(atoms)));
  EXPECT_GT(matchedCosines(dictionary, fit.encoders).min().item<float>(), 0.95f);
  float variance = (patches - patches.mean(0)).pow(2).sum().item<float>();
  EXPECT_LT(oneEncoderResidual(fit, patches), 0.05f * variance);
  PlantedClusters asClusters{patches, which, dictionary};
  auto [own, others] = firingRates(fit, asClusters, matching(dictionary, fit.encoders));
  EXPECT_GT(own.min().item<float>(), 0.9f) << own;
  EXPECT_LT(others.max().item<float>(), 0.1f) << others;
}

}  // namespace
