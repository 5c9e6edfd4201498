// Calibration of the influence test (analysis/influence.h; docs/statistics.md), at
// a larger size than tests/core/test_influence_calibration.cpp:
// - false positives: noise concepts (the paper's noise signal vectors) on synthetic post-ReLU
//   layers with a trained pooling head, under each null (influence.h); the share of
//   raw p < 0.05 (nominal 0.05) and of layers with any marked cell (BH bounds it by q = 0.05);
// - power: a planted concept that only class 0 reads with weight beta, found by each method;
//   the share of seeds where the method's matching concept is marked on class 0;
// - TCAV with random concept folders: how often a noise concept is significant;
// - a real layer (--cache DIR, with its model's head): noise concepts on 256 of its images, as
//   the report samples them, under each null.
// Command line: kUsage, above main().
// (every part tests each null of --nulls; --parts none --cache DIR runs the real layer alone;
// --verbose 1 prints each power fit: the preset an adaptive fit ran and the planted concept's IoU;
// a method may name its preset, e.g. eddp:ica-valley)
#include <torch/torch.h>

#include <cstdio>

#include "activations/activation_cache.h"
#include "base/tensor_io.h"
#include "bench_args.h"
#include "model/head_module.h"
#include "discovery/concept_method.h"
#include "analysis/influence.h"
#include "analysis/influence_calibration.h"
#include "discovery/synthetic_pairs.h"
#include "tcav/tcav.h"

namespace {

using namespace dx;

struct Rate {
  int64_t hits = 0, total = 0;
  double share() const { return total ? double(hits) / double(total) : 0.0; }
};

SyntheticPairs noiseLayer(uint64_t seed, int channels) {
  SyntheticPairsSpec spec;
  spec.dims = channels, spec.concepts = 6, spec.distractors = channels / 4, spec.seed = seed;
  spec.distribution = FactorDistribution::HeavyTailed;
  spec.height = spec.width = 4;
  spec.imagesPerClass = 40;
  return makeSyntheticPairs(spec);
}

void falsePositives(int seeds, const std::vector<std::string>& channelList,
                    const std::vector<InfluenceNull>& nulls) {
  std::printf("\nFalse positives: 16 noise concepts x 6 classes per layer, %d layers per size\n",
              seeds);
  std::printf("| channels | head | null | raw p < 0.05 | layers with a marked cell |\n|---|---|---|---|---|\n");
  for (const auto& channelText : channelList) {
    int channels = std::stoi(channelText);
    for (bool linear : {true, false})
      for (auto null : nulls) {
        Rate raw, layers;
        for (int seed = 0; seed < seeds; ++seed) {
          auto data = noiseLayer(uint64_t(seed), channels);
          HeadFunction head = data.head();
          if (!linear) head = [h = data.head()](const at::Tensor& z) { return torch::relu(h(z)); };
          auto gen = at::detail::createCPUGenerator(1000 + uint64_t(seed));
          auto basis = noiseConcepts(data.activations, 16, gen);
          InfluenceOptions o;
          o.null = null;
          o.nullDraws = 399;
          o.seed = uint64_t(seed);
          auto r = conceptInfluence(head, basis, data.activations, o);
          auto tested = r.pValues.masked_select(r.pValues == r.pValues);
          raw.hits += (tested < 0.05).sum().item<int64_t>();
          raw.total += tested.numel();
          layers.hits += r.significant.any().item<bool>() ? 1 : 0;
          ++layers.total;
        }
        std::printf("| %d | %s | %s | %.3f (%lld of %lld) | %.3f |\n", channels,
                    linear ? "pool + linear (exact)" : "pool + linear + ReLU (399 draws)",
                    influenceNullName(null), raw.share(), (long long)raw.hits,
                    (long long)raw.total, layers.share());
        std::fflush(stdout);
      }
  }
}

bool verbose = false;

// Each method is fitted once per beta and seed; its concept is then tested under every null.
void power(int seeds, const std::vector<std::string>& methods, const std::vector<std::string>& betas,
           const std::vector<InfluenceNull>& nulls) {
  // marked[null][method][beta]; found[method][beta]
  std::vector<std::vector<std::vector<Rate>>> marked(
      nulls.size(), std::vector<std::vector<Rate>>(methods.size(), std::vector<Rate>(betas.size())));
  std::vector<std::vector<int>> found(methods.size(), std::vector<int>(betas.size(), 0));
  for (size_t m = 0; m < methods.size(); ++m)
    for (size_t b = 0; b < betas.size(); ++b) {
      double beta = std::stod(betas[b]);
      for (int seed = 0; seed < seeds; ++seed) {
        auto layer = makePlantedLayer(uint64_t(seed));
        auto h = layer.directions.clone();
        h[0] *= beta;
        HeadFunction head = [h](const at::Tensor& z) { return z.mean({2, 3}).matmul(h.t()); };
        FitOptions fo;
        fo.concepts = 4;
        fo.head = head;
        fo.seed = uint64_t(seed);
        auto [method, preset] = dx::bench::methodAndPreset(methods[m]);  // e.g. eddp:ica-valley
        if (!preset.empty()) fo.preset = preset;
        if (verbose)
          fo.progress = [](const Progress& p) {
            if (p.stage.rfind("adaptive", 0) == 0) std::printf("  %s\n", p.stage.c_str());
          };
        auto basis = makeConceptMethod(method)->fit(layer.z, fo);
        auto planted = matchPlanted(layer, basis);
        if (verbose)
          std::printf("  %s seed %d beta %s: %s%s, planted concept's IoU %.3f\n",
                      methods[m].c_str(), seed, betas[b].c_str(),
                      basis.choice.preset.empty() ? "" : "fitted ", basis.choice.preset.c_str(),
                      planted.iou);
        if (planted.iou <= 0.5) continue;
        ++found[m][b];
        for (size_t n = 0; n < nulls.size(); ++n) {
          InfluenceOptions o;
          o.null = nulls[n];
          auto r = conceptInfluence(head, basis, layer.z, o);
          marked[n][m][b].hits += r.significant[planted.detector][0].item<bool>() ? 1 : 0;
          ++marked[n][m][b].total;
        }
      }
    }
  for (size_t n = 0; n < nulls.size(); ++n) {
    std::printf("\nPower: planted concept 0 read by class 0 with weight beta (128 channels, 4 "
                "concepts, %d seeds, %s null); marked share (seeds where the method found the "
                "concept, IoU > 0.5)\n", seeds, influenceNullName(nulls[n]));
    std::printf("| method |");
    for (const auto& beta : betas) std::printf(" beta %s |", beta.c_str());
    std::printf("\n|---|");
    for (size_t j = 0; j < betas.size(); ++j) std::printf("---|");
    std::printf("\n");
    for (size_t m = 0; m < methods.size(); ++m) {
      std::printf("| %s |", methods[m].c_str());
      for (size_t b = 0; b < betas.size(); ++b)
        std::printf(" %.2f (%d found) |", marked[n][m][b].share(), found[m][b]);
      std::printf("\n");
    }
  }
  std::fflush(stdout);
}

// TCAV with random concept folders: concept sets drawn like the random sets, so every concept
// is noise; the share of them flagged near chance and the share significant.
void tcavFalsePositives(int seeds) {
  Rate significant, flagged, unflagged;  // unflagged: the t-test alone (minAccuracy 0)
  for (int seed = 0; seed < seeds; ++seed) {
    auto data = noiseLayer(uint64_t(seed), 64);
    HeadFunction head = [h = data.head()](const at::Tensor& z) { return torch::relu(h(z)); };
    auto gen = at::detail::createCPUGenerator(5000 + uint64_t(seed));
    auto concepts = drawImageSets(data.activations, 3, 30, "concept", gen);
    auto randoms = drawImageSets(data.activations, 10, 30, "random", gen);
    auto classRows = (data.labels == 0).nonzero().squeeze(1);
    TcavOptions o;
    o.cav.seed = uint64_t(seed);
    auto result = runTcav(head, data.activations.index_select(0, classRows), 0, concepts,
                          randoms, {}, o);
    for (const auto& c : result.concepts) {
      flagged.hits += c.nearChance ? 1 : 0;
      significant.hits += c.significant ? 1 : 0;
      ++flagged.total, ++significant.total;
    }
    o.minAccuracy = 0;
    auto tOnly = runTcav(head, data.activations.index_select(0, classRows), 0, concepts, randoms,
                         {}, o);
    for (const auto& c : tOnly.concepts) unflagged.hits += c.significant ? 1 : 0;
    unflagged.total += int64_t(tOnly.concepts.size());
  }
  std::printf("\nTCAV with random concept folders (3 per layer, 10 random sets, %d layers): "
              "flagged near chance %.2f, significant %.3f (%lld of %lld); by the t-test alone "
              "(no flag) %.3f (Bonferroni over 3 concepts at 0.05)\n",
              seeds, flagged.share(), significant.share(), (long long)significant.hits,
              (long long)significant.total, unflagged.share());
}

// Noise concepts on a real layer with its real head: 20 draws of 16 noise concepts on 256
// evenly spaced images of the cache, every class tested.
void realLayerFalsePositives(const std::string& cacheDir, const std::vector<InfluenceNull>& nulls) {
  ActivationCache cache(cacheDir);
  const auto& activations = cache.activations();
  size_t n = activations.shape()[0], take = std::min<size_t>(n, 256);
  if (take < 2) throw UserError(cacheDir + " holds fewer than 2 images: nothing to calibrate on.");
  std::vector<at::Tensor> rows;
  for (size_t j = 0; j < take; ++j) rows.push_back(npyRows(activations, j * n / take, 1));
  auto z = torch::cat(rows);
  auto head = loadHeadModule(cache.modelPath(), cache.layer());
  std::printf("\nReal layer %s (%s, %lld images): 20 x 16 noise concepts x every class\n",
              cache.layer().c_str(), cacheDir.c_str(), (long long)z.size(0));
  std::printf("| null | raw p < 0.05 | draws with a marked cell |\n|---|---|---|\n");
  for (auto null : nulls) {
    Rate raw, marked;
    for (int draw = 0; draw < 20; ++draw) {
      auto gen = at::detail::createCPUGenerator(7000 + uint64_t(draw));
      auto basis = noiseConcepts(z, 16, gen);
      InfluenceOptions o;
      o.null = null;
      o.seed = uint64_t(draw);
      auto r = conceptInfluence(head, basis, z, o);
      auto tested = r.pValues.masked_select(r.pValues == r.pValues);
      raw.hits += (tested < 0.05).sum().item<int64_t>();
      raw.total += tested.numel();
      marked.hits += r.significant.any().item<bool>() ? 1 : 0;
      ++marked.total;
    }
    std::printf("| %s | %.3f (%lld of %lld) | %.2f |\n", influenceNullName(null), raw.share(),
                (long long)raw.hits, (long long)raw.total, marked.share());
    std::fflush(stdout);
  }
}

}  // namespace

constexpr char kUsage[] =
    "usage: influence_calibration [--seeds 20] [--channels 128,256]\n"
    "       [--methods pca,nmf,kmeans,...]\n"
    "       [--betas 0,0.01,0.03,0.1,0.3,1] [--parts influence,tcav,power]\n"
    "       [--verbose 1]\n"
    "       [--nulls pattern-mahalanobis,pattern,isotropic] [--cache DIR]\n";

int main(int argc, char** argv) {
  dx::bench::checkOptions(argc, argv, kUsage);
  using dx::bench::option;
  int seeds = std::stoi(option(argc, argv, "--seeds", "20"));
  auto channels = dx::bench::splitList(option(argc, argv, "--channels", "128,256"));
  auto methods = dx::bench::splitList(
      option(argc, argv, "--methods", "pca,nmf,kmeans,spherical-kmeans,sae,eddp"));
  auto betas = dx::bench::splitList(option(argc, argv, "--betas", "0,0.01,0.03,0.1,0.3,1"));
  auto parts = option(argc, argv, "--parts", "influence,tcav,power");
  verbose = option(argc, argv, "--verbose", "0") == "1";
  std::vector<dx::InfluenceNull> nulls;
  for (const auto& name :
       dx::bench::splitList(option(argc, argv, "--nulls", "pattern-mahalanobis,pattern,isotropic")))
    nulls.push_back(dx::influenceNullNamed(name));
  if (parts.find("influence") != std::string::npos) falsePositives(seeds, channels, nulls);
  if (parts.find("tcav") != std::string::npos) tcavFalsePositives(seeds);
  if (parts.find("power") != std::string::npos)
    power(seeds, methods, betas, nulls);
  auto cache = option(argc, argv, "--cache", "");
  if (!cache.empty()) realLayerFalsePositives(cache, nulls);
  return 0;
}
