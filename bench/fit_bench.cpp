// Fit time of our concept methods against scikit-learn (Debian's, via /usr/bin/python3 and
// bench/sklearn_fit.py) on the same patch matrix, in the same run. Goal: sklearn/ours > 1 for
// PCA, NMF and k-means, with quality no worse, so speed is not bought with bad fits.
//
// Quality is computed here, by one piece of C++ code, from what each library returns (so both
// are scored by the same definition; sklearn's own figure is printed as a cross-check):
//   pca    explained variance ratio: variance of the centred patches inside the span of the
//          returned directions / total variance (higher is better).
//   nmf    relative error ||X - U V||_F / ||X||_F of the returned parts V with the best
//          non-negative coefficients U for them (HALS with V fixed), so it scores the parts
//          alone (lower is better). Our V: the encoders; sklearn's: components_.
//   kmeans inertia (sum of squared distances to the nearest centre) / total sum of squares
//          around the mean (lower is better). Our centres: encoders + patch mean (kmeans.h).
// Spherical k-means, the SAE and EDDP quick are timed once, for information (no sklearn twin).
//
// Command line: kUsage, above main().
// --activations: N x C x h x w or P x C float .npy (e.g. a cache's activations.npy); default:
// synthetic ReLU(sparse low-rank codes + noise), 7 x 7 patches per image like a last conv block.
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <sstream>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "bench_args.h"
#include "model/concept_model.h"
#include "discovery/concept_method.h"
#include "base/stopwatch.h"
#include "base/tensor_io.h"

#ifndef DIRECTRIX_SOURCE_DIR
#define DIRECTRIX_SOURCE_DIR "."
#endif

namespace fs = std::filesystem;

namespace {

constexpr double kBudgetSeconds = 10;  // stop repeating a fit after this much time in total

// Best of up to 3 fits, fewer when slow (sklearn_fit.py uses the same policy): the first run
// pays one-off costs (thread pools, page faults) that a user pays once per session.
double bestSeconds(const std::function<dx::ConceptBasis()>& fit, dx::ConceptBasis* out,
                   int maxRuns = 3) {
  double best = 1e300, spent = 0;
  for (int run = 0; run < maxRuns && spent < kBudgetSeconds; ++run) {
    dx::Stopwatch watch;
    dx::ConceptBasis b = fit();
    double s = watch.seconds();
    spent += s;
    if (s < best) {
      best = s;
      *out = b;
    }
  }
  return best;
}

// Non-negative, sparse, correlated channels with a few dominant parts, like post-ReLU features:
// ReLU(Z L + noise - 0.2) with Z sparse exponential codes of rank 24 and per-channel scales.
at::Tensor syntheticActivations(int64_t patches, int64_t channels) {
  torch::manual_seed(0);
  const int64_t rank = 24, side = 7, images = (patches + side * side - 1) / (side * side);
  const int64_t p = images * side * side;
  auto codes = torch::empty({p, rank}).exponential_(1) * (torch::rand({p, rank}) < 0.2);
  auto x = codes.matmul(torch::randn({rank, channels})) + 0.5 * torch::randn({p, channels}) - 0.2;
  x = torch::relu(x) * torch::exp(0.5 * torch::randn({channels}));
  return x.view({images, side, side, channels}).permute({0, 3, 1, 2}).contiguous();
}

// The activations as the methods take them (N x C x h x w), at most ~`limit` patches (whole
// images); `limit` 0 = all.
at::Tensor loadActivations(const std::string& path, int64_t limit) {
  at::Tensor a = dx::readNpyTensor(path).to(torch::kFloat32);
  if (a.dim() == 2) a = a.view({a.size(0), a.size(1), 1, 1});
  if (a.dim() != 4) throw dx::UserError(path + ": expected N x C x h x w or P x C activations.");
  int64_t perImage = a.size(2) * a.size(3);
  if (limit > 0) a = a.slice(0, 0, std::max<int64_t>(1, (limit + perImage - 1) / perImage));
  return a.contiguous();
}

double explainedVariance(const at::Tensor& x, const at::Tensor& directions) {
  auto centred = x - x.mean(0);
  auto q = std::get<0>(torch::linalg::qr(directions.to(torch::kDouble).t(), "reduced"));
  return centred.matmul(q).pow(2).sum().item<double>() / centred.pow(2).sum().item<double>();
}

double nmfRelativeError(const at::Tensor& x, const at::Tensor& parts) {
  auto v = parts.to(torch::kDouble).clamp_min(0);
  auto gram = v.matmul(v.t()), cross = v.matmul(x.t());  // I x I, I x P
  auto eye = torch::eye(v.size(0), gram.options());
  // Start from the clamped least-squares coefficients, then exact coordinate updates (HALS).
  auto u =
      torch::linalg::solve(gram + 1e-9 * gram.diagonal().mean() * eye, cross, true).clamp_min(0);
  double normSq = x.pow(2).sum().item<double>(), previous = INFINITY, error = 0;
  for (int sweep = 1; sweep <= 500; ++sweep) {
    for (int64_t j = 0; j < u.size(0); ++j) {
      at::Tensor row = u[j];
      row.copy_((row + (cross[j] - gram[j].matmul(u)) / gram[j][j].clamp_min(1e-12)).clamp_min(0));
    }
    if (sweep % 10) continue;
    // ||X - U^T V||^2 = ||X||^2 - 2 <U, V X^T> + <U U^T, V V^T>, without the P x C residual.
    error = normSq - 2 * (u * cross).sum().item<double>() +
            (u.matmul(u.t()) * gram).sum().item<double>();
    if (previous - error < 1e-7 * normSq) break;
    previous = error;
  }
  return std::sqrt(std::max(error, 0.0) / normSq);
}

double inertiaFraction(const at::Tensor& x, const at::Tensor& centres) {
  auto c = centres.to(torch::kDouble);
  auto d = x.pow(2).sum(1, true) - 2 * x.matmul(c.t()) + c.pow(2).sum(1).unsqueeze(0);
  return std::get<0>(d.min(1)).clamp_min(0).sum().item<double>() /
         (x - x.mean(0)).pow(2).sum().item<double>();
}

std::string shellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs sklearn_fit.py; an empty object (and a note) when Python or scikit-learn is missing.
nlohmann::json runSklearn(const std::string& script, const fs::path& npy, int concepts) {
  std::string cmd = "/usr/bin/python3 " + shellQuote(script) + " " + shellQuote(npy.string()) +
                    " --concepts " + std::to_string(concepts) + " --out " +
                    shellQuote(npy.parent_path().string());
  std::string text;
  if (FILE* pipe = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) text.append(buf, n);
    if (::pclose(pipe) == 0) {
      try {
        return nlohmann::json::parse(text);
      } catch (const std::exception&) {
      }
    }
  }
  std::fprintf(stderr, "fit_bench: scikit-learn run failed (%s); sklearn columns left empty\n",
               cmd.c_str());
  return nlohmann::json::object();
}

}  // namespace

constexpr char kUsage[] =
    "usage: fit_bench [--activations FILE.npy] [--patches P] [--concepts I] [--skip-sklearn]\n"
    "                 [--extras spherical-kmeans,sae,eddp|none] [--sklearn-script FILE]\n";

int main(int argc, char** argv) {
  dx::bench::checkOptions(argc, argv, kUsage);
  std::string activations,
      extras = "spherical-kmeans,sae,eddp",
      script = (fs::path(DIRECTRIX_SOURCE_DIR) / "bench/sklearn_fit.py").string();
  int64_t patches = 50000;
  bool patchesGiven = false, skipSklearn = false;
  int concepts = 32;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--skip-sklearn") {
      skipSklearn = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "fit_bench: %s needs a value\n", a.c_str());
      return 2;
    }
    std::string v = argv[++i];
    if (a == "--activations")
      activations = v;
    else if (a == "--patches")
      patches = std::stoll(v), patchesGiven = true;
    else if (a == "--concepts")
      concepts = std::stoi(v);
    else if (a == "--extras")
      extras = v == "none" ? "" : v;
    else if (a == "--sklearn-script")
      script = v;
    else {
      std::fprintf(stderr, "fit_bench: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  fs::path tmp =
      fs::temp_directory_path() / ("directrix-fit-bench-" + std::to_string(::getpid()));
  try {
    dx::configureTorchThreads();  // every core, as the app does
    at::Tensor acts = activations.empty()
                          ? syntheticActivations(patches, 128)
                          : loadActivations(activations, patchesGiven ? patches : 0);
    at::Tensor x = dx::patchesOf(acts).contiguous();  // P x C, the matrix both libraries fit
    fs::create_directories(tmp);
    fs::path npy = tmp / "patches.npy";
    dx::writeNpyTensor(npy.string(), x);
    std::printf(
        "fit_bench: %lld patches x %lld channels (%s), %d concepts, %d torch threads\n",
        (long long)x.size(0), (long long)x.size(1),
        activations.empty() ? "synthetic ReLU(sparse low-rank + noise)" : activations.c_str(),
        concepts, at::get_num_threads());

    nlohmann::json sk = skipSklearn ? nlohmann::json::object() : runSklearn(script, npy, concepts);
    if (sk.contains("sklearn")) {
      std::printf("scikit-learn %s, threads:", sk["sklearn"].get<std::string>().c_str());
      for (auto& [lib, n] : sk["threads"].items()) std::printf(" %s %d", lib.c_str(), n.get<int>());
      std::printf("\n");
    }
    at::Tensor x64 = x.to(torch::kDouble), mean = x.mean(0);
    std::printf("%-18s %9s %10s %13s   %-28s %8s %8s\n", "method", "ours s", "sklearn s",
                "sklearn/ours", "quality", "ours", "sklearn");

    struct Row {
      std::string method, quality;
      std::function<double(const dx::ConceptBasis&)> ours;
      std::function<double(const at::Tensor&)> theirs;
    };
    std::vector<Row> rows = {
        {"pca", "explained variance (higher)",
         [&](const dx::ConceptBasis& b) { return explainedVariance(x64, b.encoders); },
         [&](const at::Tensor& c) { return explainedVariance(x64, c); }},
        {"nmf", "relative error (lower)",
         [&](const dx::ConceptBasis& b) { return nmfRelativeError(x64, b.encoders); },
         [&](const at::Tensor& c) { return nmfRelativeError(x64, c); }},
        {"kmeans", "inertia / total SS (lower)",
         [&](const dx::ConceptBasis& b) { return inertiaFraction(x64, b.encoders + mean); },
         [&](const at::Tensor& c) { return inertiaFraction(x64, c); }},
    };
    dx::FitOptions options;
    options.concepts = concepts;
    for (const auto& r : rows) {
      auto method = dx::makeConceptMethod(r.method);
      dx::ConceptBasis basis;
      double ours = bestSeconds([&] { return method->fit(acts, options); }, &basis);
      double oursQ = r.ours(basis);
      if (!sk.contains(r.method)) {
        std::printf("%-18s %9.3f %10s %13s   %-28s %8.4f %8s\n", r.method.c_str(), ours, "-", "-",
                    r.quality.c_str(), oursQ, "-");
        continue;
      }
      double theirs = sk[r.method]["seconds"].get<double>();
      double theirsQ = r.theirs(dx::readNpyTensor((tmp / ("sk_" + r.method + ".npy")).string()));
      std::printf("%-18s %9.3f %10.3f %13.2f   %-28s %8.4f %8.4f\n", r.method.c_str(), ours, theirs,
                  theirs / ours, r.quality.c_str(), oursQ, theirsQ);
    }
    for (const std::string& m : dx::bench::splitList(extras)) {
      if (m.empty()) continue;
      dx::ConceptBasis basis;
      double s =
          bestSeconds([&] { return dx::makeConceptMethod(m)->fit(acts, options); }, &basis, 1);
      std::printf("%-18s %9.3f %10s %13s   (one fit, for information)\n",
                  (m == "eddp" ? "eddp quick" : m).c_str(), s, "-", "-");
    }
    std::printf("goal: sklearn/ours > 1 with quality no worse than sklearn's\n");
    if (sk.contains("pca"))
      std::printf(
          "sklearn's own figures: explained variance %.4f, relative error %.4f (%d "
          "iterations), inertia / total SS %.4f (%d iterations)\n",
          sk["pca"]["reported"].get<double>(), sk["nmf"]["reported"].get<double>(),
          sk["nmf"]["iterations"].get<int>(), sk["kmeans"]["reported"].get<double>(),
          sk["kmeans"]["iterations"].get<int>());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fit_bench: %s\n", e.what());
    fs::remove_all(tmp);
    return 1;
  }
  fs::remove_all(tmp);
  return 0;
}
