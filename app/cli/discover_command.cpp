// directrix-cli discover: concept directions from cached activations (docs/methods.md 1).
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "activations/activation_cache.h"
#include "arguments.h"
#include "commands.h"
#include "discovery/concept_method.h"
#include "discovery/concept_stability.h"
#include "discovery/patches.h"
#include "analysis/concept_report.h"
#include "analysis/concept_set_files.h"
#include "model/head_module.h"
#include "base/stopwatch.h"
#include "base/tensor_io.h"
#include "distributed/launch.h"
#include "job.h"
#include "terminal_progress.h"

namespace dx::cli {
namespace {

struct Input {
  at::Tensor activations;
  at::Tensor classTokens;  // at a transformer layer with class tokens
  std::string layer, source, model;
  std::vector<std::string> classes;
  int inputHeight = 0, inputWidth = 0;
};

Input readInput(const Arguments& a) {
  if (a.has("activations") == a.has("cache"))
    throw UserError("give either --activations A.npy (N x C x h x w float32) or --cache DIR "
                    "(made by directrix-cli extract).");
  Input in;
  in.layer = a.value("layer");
  if (a.has("cache")) {
    ActivationCache cache(a.value("cache"));
    if (in.layer.empty()) in.layer = cache.layer();
    // Absolute, so that audit and report find the cache from any working directory.
    in.source = std::filesystem::absolute(a.value("cache") + "/activations.npy").string();
    in.model = cache.modelPath();
    in.classes = cache.classes();
    in.inputHeight = cache.inputHeight();
    in.inputWidth = cache.inputWidth();
    if (cache.classTokens()) in.classTokens = readNpyTensor(cache.classTokens()->path());
  } else {
    in.source = a.value("activations");
  }
  in.activations = mapNpyTensor(in.source);  // streamed by the fit, never read whole
  return in;
}

// The head for influence: --head, else the model the cache was extracted with (if still there).
HeadFunction headFor(const Arguments& a, const Input& in) {
  if (a.has("head")) return loadHeadModule(a.value("head"), in.layer, in.classTokens);
  if (!in.model.empty() && std::filesystem::is_regular_file(in.model))
    return loadHeadModule(in.model, in.layer, in.classTokens);
  return {};
}

std::vector<std::string> classNames(const Input& in, const HeadFunction& head,
                                    const at::Tensor& activations) {
  if (!in.classes.empty() || !head) return in.classes;
  std::vector<std::string> names;
  int64_t k = head.rows(0, 1)(activations.slice(0, 0, 1)).size(1);
  for (int64_t i = 0; i < k; ++i) names.push_back("class " + std::to_string(i));
  return names;
}

// A job's ranks share the images out (docs/architecture.md "Several processes"): every method
// fits data-parallel, each rank its share, the statistics (and gradients) summed over the ranks.
// Returns false on the ranks that have nothing more to do once the fit is done.
bool fitOnJob(const Job& job, const ConceptMethod& method, const Input& in, FitOptions& options,
              ConceptBasis& basis) {
  if (!job.group) {
    basis = method.fit(in.activations, options);
    return true;
  }
  const int64_t images = in.activations.size(0);
  if (images < job.launch.worldSize)
    throw UserError(std::to_string(images) + " images cannot be shared out over " +
                    std::to_string(job.launch.worldSize) + " ranks; use fewer ranks.");
  if (!method.dataParallel())
    throw UserError(method.name() + " cannot fit over several processes; run it without RANK "
                    "and WORLD_SIZE.");
  // Shares of whole fold blocks: exact sums then see the one-process blocks (Patches::exactSums).
  const auto unit = Patches(in.activations, 0, options.patchBlockRows).foldImages();
  if ((images + unit - 1) / unit < job.launch.worldSize)
    throw UserError(std::to_string(images) + " images make " +
                    std::to_string((images + unit - 1) / unit) + " blocks of " +
                    std::to_string(unit) + ", too few to share out over " +
                    std::to_string(job.launch.worldSize) + " ranks; use fewer ranks.");
  Share share = shareOf(size_t(images), job.launch.rank, job.launch.worldSize, size_t(unit));
  options.parallel.reduction = std::make_shared<GroupReduction>(*job.group);
  options.parallel.firstImage = int64_t(share.begin);
  options.parallel.images = images;
  options.parallel.allImages = in.activations;  // EDDP's steps read their batches from it
  // The head stays the whole cache's: EDDP's URA reads any image of a batch.
  basis = method.fit(in.activations.narrow(0, int64_t(share.begin), int64_t(share.size())),
                     options);
  options.parallel = {};
  return job.leader();  // rank 0 writes the report from the merged cache
}

// Seed stability (discovery/concept_stability.h): `refits` more fits with seeds seed + 1, ...,
// run on every rank of a job (each fit is data-parallel like the first).
std::vector<ConceptBasis> refitWithOtherSeeds(const Job& job, const ConceptMethod& method,
                                              const Input& in, const FitOptions& options,
                                              int refits) {
  std::vector<ConceptBasis> out;
  for (int r = 1; r <= refits; ++r) {
    FitOptions again = options;
    again.seed = options.seed + uint64_t(r);
    again.progress = refitProgress(options.progress, r, refits);
    ConceptBasis refit;
    fitOnJob(job, method, in, again, refit);
    out.push_back(refit);
  }
  return out;
}

// Each concept's stability against the refits into the report; returns concepts.json's
// "stability_check" block (how it was measured).
nlohmann::json recordStability(const Input& in, uint64_t seed, const ConceptBasis& basis,
                               const std::vector<ConceptBasis>& refits, double refitSeconds,
                               ConceptReport& summary, bool verbose) {
  auto check = checkStability(basis, seed, refits, in.activations, refitSeconds);
  for (size_t i = 0; i < check.stability.size(); ++i)
    summary.concepts[i].stability = check.stability[i];
  if (verbose)
    std::cout << unstableConcepts(check) << " of " << check.stability.size()
              << " concepts unstable: in the refits with other seeds, fewer than half of the "
              << "patches where either fit finds them are found by both (lower median over "
              << refits.size() << " refits)\n";
  return stabilityCheckJson(check);
}

}  // namespace

int runDiscover(const std::vector<std::string>& args) {
  Arguments a(args, {"activations", "cache", "head", "layer", "concepts", "method", "preset",
                     "seed", "out", "top", "influence-images", "influence-step", "influence-null",
                     "null-draws", "fdr", "min-effect", "rank-timeout", "stability"},
              {"quiet"});
  if (!a.has("out")) throw UserError("give --out DIR, the folder that receives the concepts.");
  if (!a.has("concepts")) throw UserError("give --concepts I, the number of concepts to find.");
  Input in = readInput(a);
  Job job = joinJob(a);
  auto method = makeConceptMethod(a.value("method", "eddp"));
  FitOptions options;
  options.concepts = static_cast<int>(a.count("concepts", 8));
  options.seed = a.count("seed", 0);
  options.preset = a.value("preset", "adaptive");
  options.head = headFor(a, in);
  TerminalProgress bar(!a.has("quiet") && job.leader());
  options.progress = std::ref(bar);
  installInterruptHandler(options.cancel);
  const size_t refitsAsked = a.count("stability", 0);
  if (refitsAsked > 20)
    throw UserError("--stability takes at most 20 refits, got " + std::to_string(refitsAsked) +
                    "; 2 or 3 show most unstable concepts.");
  const int refits = static_cast<int>(refitsAsked);
  Stopwatch clock;
  ConceptBasis basis;
  bool leads = fitOnJob(job, *method, in, options, basis);
  Stopwatch refitClock;
  auto refitBases = refitWithOtherSeeds(job, *method, in, options, refits);
  const double refitSeconds = refitClock.seconds();
  if (!leads) return 0;
  std::string out = a.value("out");
  ReportOptions report;
  report.topPatches = static_cast<int>(a.count("top", 64));
  report.influenceImages = static_cast<int>(a.count("influence-images", 256));
  report.influence.alpha = a.number("influence-step", report.influence.alpha, 1e-6, 1e6);
  report.influence.nullDraws = static_cast<int>(a.number("null-draws", 1000, 1, 1e6));
  report.influence.fdr = a.number("fdr", report.influence.fdr, 1e-12, 1);
  report.influence.minEffect = a.number("min-effect", report.influence.minEffect, 0, 1e12);
  report.influence.null =
      influenceNullNamed(a.value("influence-null", influenceNullName(report.influence.null)));
  report.seed = options.seed;
  report.progress = options.progress;
  report.cancel = options.cancel;
  NpyMap activations(in.source);
  auto summary = summariseConcepts(basis, activations, classNames(in, options.head, in.activations),
                                   options.head, report);
  nlohmann::json stability;
  if (refits > 0)
    stability = recordStability(in, options.seed, basis, refitBases, refitSeconds, summary,
                                !a.has("quiet"));
  const auto& shape = activations.shape();
  PatchGeometry geometry{in.inputHeight ? in.inputHeight : int(shape[2]),
                         in.inputWidth ? in.inputWidth : int(shape[3]), int(shape[2]),
                         int(shape[3]), 0};
  nlohmann::json doc = conceptSetDocument(method->name(), options.preset, options.seed,
                                          options.concepts, in.layer, summary.classes,
                                          summary.influenceTest,
                                          conceptsToJson(summary, geometry));
  if (!basis.choice.preset.empty()) doc["adaptive_choice"] = fitChoiceJson(basis.choice);
  doc["activations"] = in.source;
  doc["decoder"] = method->decoderMeaning();
  doc["encoder"] = method->encoderMeaning();
  doc["rule"] = "concept i is present at patch x when decoders[i].x - biases[i] > 0";
  doc["seconds"] = clock.seconds();
  if (job.group) {
    doc["ranks"] = job.launch.worldSize;
    doc["data_parallel"] = method->dataParallel();
    doc["communication"] = {{"payload_bytes_per_rank", job.group->payloadBytes()},
                            {"reductions", job.group->reductions()}};
  }
  doc["influence_images"] = summary.influenceImages;
  if (!stability.is_null()) doc["stability_check"] = stability;  // "seconds" includes the refits
  writeConceptSet(out, {basis.decoders, basis.biases, basis.encoders, summary.imageStrength,
                        at::Tensor(), doc});
  std::cout << "wrote " << basis.concepts() << " " << method->name() << " concepts to " << out
            << " in " << clock.seconds() << " s";
  if (!basis.choice.preset.empty()) {  // the adaptive preset says which fit it ran, even --quiet
    std::cout << " (" << options.preset << ": " << basis.choice.preset << ", k-means agreement "
              << basis.choice.agreement;
    if (std::isfinite(basis.choice.valleyAgreement))
      std::cout << ", ica-valley agreement " << basis.choice.valleyAgreement << ", unclaimed "
                << basis.choice.unclaimed;
    if (std::isfinite(basis.choice.singleFiringThreshold))
      std::cout << ", ICA encoders for " << basis.choice.icaEncoders.size() << " of "
                << basis.concepts();
    std::cout << ")";
  }
  std::cout << "\n";
  return 0;
}

}  // namespace dx::cli
