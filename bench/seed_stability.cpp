// Seed stability of concept methods (docs/concept-discovery.md "Seed stability"): fits every
// method with seeds 0..K-1 on one cache and matches each pair of fits' detectors one to one by
// the IoU of their firing over a sample of patches (discovery/concept_stability.h). A method whose
// concepts are properties of the layer finds the same patches whatever its seed; k-means, run in
// the same program, is the baseline.
//
// Command line: kUsage, above main().
// Each method is NAME or eddp:PRESET. The cache's model (when its file is still there) gives
// EDDP's URA head, as `directrix-cli discover --cache` does.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "activations/activation_cache.h"
#include "base/stopwatch.h"
#include "base/tensor_io.h"
#include "bench_args.h"
#include "discovery/concept_method.h"
#include "discovery/concept_stability.h"
#include "model/head_module.h"

namespace {

struct MethodFits {
  std::vector<dx::ConceptBasis> fits;
  std::vector<double> seconds;
};

MethodFits fitSeeds(const std::string& spec, const at::Tensor& activations,
                    const dx::HeadFunction& head, int concepts, int seeds) {
  auto colon = spec.find(':');
  std::string name = spec.substr(0, colon);
  MethodFits out;
  for (int seed = 0; seed < seeds; ++seed) {
    dx::FitOptions o;
    o.concepts = concepts;
    o.seed = uint64_t(seed);
    if (colon != std::string::npos) o.preset = spec.substr(colon + 1);
    o.head = head;
    dx::Stopwatch clock;
    out.fits.push_back(dx::makeConceptMethod(name)->fit(activations, o));
    out.seconds.push_back(clock.seconds());
  }
  return out;
}

// The true median (the mean of the middle two for an even count), for the statistics over pairs
// and seeds printed here; a concept's own stability is conceptStability's lower median, which
// with two refits is the smaller value (a concept found by one refit and lost by the other is
// not stable).
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Shares of the largest two detectors of a fit, over the sample.
std::pair<double, double> largestShares(const dx::ConceptBasis& basis, const at::Tensor& sample) {
  auto shares = (dx::conceptScores(basis, sample) > 0).to(torch::kDouble).mean(0);
  auto top = std::get<0>(shares.sort(0, /*descending=*/true));
  return {top[0].item<double>(), top.size(0) > 1 ? top[1].item<double>() : 0.0};
}

void report(const std::string& spec, const MethodFits& m, const at::Tensor& sample) {
  std::vector<double> pairValues, pairMedians, above5, above8;
  for (size_t i = 0; i < m.fits.size(); ++i)
    for (size_t j = i + 1; j < m.fits.size(); ++j) {
      auto v = dx::matchedFiringIou(m.fits[i], m.fits[j], sample);
      pairValues.insert(pairValues.end(), v.begin(), v.end());
      pairMedians.push_back(median(v));
      auto countAbove = [&v](double cut) {
        return double(std::count_if(v.begin(), v.end(), [cut](double x) { return x > cut; }));
      };
      above5.push_back(countAbove(0.5));
      above8.push_back(countAbove(0.8));
    }
  auto stability = dx::conceptStability(
      m.fits[0], std::vector<dx::ConceptBasis>(m.fits.begin() + 1, m.fits.end()), sample);
  int stable = int(std::count_if(stability.begin(), stability.end(),
                                 [](double x) { return x >= dx::kUnstableBelow; }));
  auto [first, second] = largestShares(m.fits[0], sample);
  auto [lowMedian, highMedian] = std::minmax_element(pairMedians.begin(), pairMedians.end());
  auto [low5, high5] = std::minmax_element(above5.begin(), above5.end());
  auto [low8, high8] = std::minmax_element(above8.begin(), above8.end());
  std::printf("%-22s %5.2f  %4.2f-%4.2f  %4.0f-%-4.0f %4.0f-%-4.0f %8d/%-3d %5.0f%% %4.0f%%  "
              "%6.1f\n", spec.c_str(), median(pairValues), *lowMedian, *highMedian, *low5,
              *high5, *low8, *high8, stable, m.fits[0].concepts(), 100 * first, 100 * second,
              median(m.seconds));
  std::fflush(stdout);
}

}  // namespace

constexpr char kUsage[] =
    "usage: seed_stability --cache DIR [--concepts 32] [--seeds 5]\n"
    "       [--methods eddp:balanced,kmeans] [--sample PATCHES]\n";

int main(int argc, char** argv) {
  dx::bench::checkOptions(argc, argv, kUsage);
  using dx::bench::option;
  try {
    std::string cacheDir = option(argc, argv, "--cache", "");
    if (cacheDir.empty()) {
      std::fputs(kUsage, stderr);
      return 2;
    }
    int concepts = std::stoi(option(argc, argv, "--concepts", "32"));
    int seeds = std::stoi(option(argc, argv, "--seeds", "5"));
    if (seeds < 2) throw dx::UserError("--seeds must be at least 2: stability compares fits");
    auto methods = dx::bench::splitList(option(argc, argv, "--methods", "eddp:balanced,kmeans"));
    int64_t sampleSize = std::stoll(option(argc, argv, "--sample",
                                             std::to_string(dx::kStabilitySamplePatches)));
    dx::ActivationCache cache(cacheDir);
    auto activations = dx::mapNpyTensor(cacheDir + "/activations.npy");
    dx::HeadFunction head;
    if (std::filesystem::is_regular_file(cache.modelPath()))
      head = dx::loadHeadModule(cache.modelPath(), cache.layer());
    auto sample = dx::stabilitySample(activations, sampleSize);
    std::printf("cache %s: %lld images, %lld x %lld x %lld; %d concepts, seeds 0-%d, IoU over "
                "%lld sampled patches%s\n",
                cacheDir.c_str(), (long long)activations.size(0), (long long)activations.size(1),
                (long long)activations.size(2), (long long)activations.size(3), concepts,
                seeds - 1, (long long)sample.size(0), head ? "" : " (no head: EDDP without URA)");
    std::printf("%-22s %5s  %-9s  %-9s %-9s %12s %5s %5s  %6s\n", "method", "IoU", "pair med",
                ">0.5", ">0.8", "stable s0", "top1", "top2", "fit s");
    for (const auto& spec : methods)
      report(spec, fitSeeds(spec, activations, head, concepts, seeds), sample);
    std::printf("IoU: median matched firing IoU over all pairs of seeds and concepts; pair med: "
                "range of the per-pair medians; >0.5, >0.8: range over pairs of the concepts "
                "matched above that IoU; stable s0: seed 0's concepts whose median matched IoU "
                "in the other seeds is >= %.1f; top1, top2: seed 0's two largest shares of "
                "patches; fit s: median fit time.\n",
                dx::kUnstableBelow);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "seed_stability: %s\n", e.what());
    return 1;
  }
  return 0;
}
