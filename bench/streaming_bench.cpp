// Concept fits on memory-mapped caches of growing size (discovery/patches.h): time and peak
// anonymous memory per method and N, to show time growing linearly and memory staying flat.
// Baselines measured in the same run: the fit's time per 10^6 patches at the smallest N, and
// the cache's own size (memory / cache is the ratio that must not grow).
//
// Command line: kUsage, above main().
// Caches are synthetic (ReLU of sparse codes on random directions plus noise, written row by row
// to DIR/stream_<N>.npy and removed afterwards). Each fit runs in a child process (this program
// with --child), which samples its RssAnon every 20 ms: file pages of the mapped cache are not
// anonymous memory, so the figure is what the fit itself holds.
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "bench_args.h"
#include "base/npy.h"
#include "base/stopwatch.h"
#include "base/tensor_io.h"
#include "discovery/concept_method.h"
#include "model/concept_model.h"

namespace fs = std::filesystem;

namespace {

double rssAnonMb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("RssAnon:", 0) == 0) return std::stod(line.substr(8)) / 1024.0;
  return 0;
}

// Writes N x C x g x g activations in chunks of images (memory bounded while writing too).
void writeCache(const std::string& path, int64_t n, int64_t c, int64_t g, bool half) {
  auto gen = at::detail::createCPUGenerator(17);
  auto dictionary = torch::rand({32, c}, gen);
  dx::NpyWriter out(path, half ? dx::npy::float16 : dx::npy::float32,
                    {size_t(n), size_t(c), size_t(g), size_t(g)});
  for (int64_t first = 0; first < n; first += 1000) {
    int64_t count = std::min<int64_t>(1000, n - first);
    auto codes = torch::relu(torch::randn({count * g * g, 32}, gen) - 1.0);
    auto patches = torch::relu(codes.matmul(dictionary) + 0.1 * torch::randn({count * g * g, c}, gen));
    auto z = patches.view({count, g, g, c}).permute({0, 3, 1, 2}).contiguous();
    if (half) z = z.to(torch::kHalf);
    out.writeRows(size_t(first), size_t(count), z.data_ptr());
  }
  out.finish(size_t(n));
}

// In the child: fit once, print "seconds peak_anon_mb".
int child(const std::string& path, const std::string& method, int concepts,
          const std::string& preset) {
  dx::configureTorchThreads();
  std::atomic<bool> done{false};
  std::atomic<double> peak{rssAnonMb()};  // read by the progress line while sampled
  std::thread sampler([&] {
    while (!done) {
      peak = std::max(peak.load(), rssAnonMb());
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  dx::FitOptions o;
  o.concepts = concepts;
  o.preset = preset;  // EDDP's; the other methods ignore it
  dx::Stopwatch clock;
  // A line on stderr at most once a minute (the parent reads stdout only): on a cache of
  // 10^5 x 2048 a fit runs for hours, and its rate and memory so far show how it goes.
  double lastLine = -60;
  o.progress = [&](const dx::Progress& p) {
    if (clock.seconds() - lastLine < 60) return;
    lastLine = clock.seconds();
    std::fprintf(stderr, "  [%s %s, %.0f s] %s %lld/%lld, peak anon %.0f MB so far\n",
                 method.c_str(), path.c_str(), lastLine, p.stage.c_str(), p.done, p.total,
                 std::max(peak.load(), rssAnonMb()));
  };
  auto basis = dx::makeConceptMethod(method)->fit(dx::mapNpyTensor(path), o);
  double seconds = clock.seconds();
  done = true;
  sampler.join();
  std::printf("%.3f %.1f\n", seconds, std::max(peak.load(), rssAnonMb()));
  return basis.concepts() == concepts ? 0 : 1;
}

}  // namespace

constexpr char kUsage[] =
    "usage: streaming_bench [--images 5000,20000,60000] [--channels 512] [--grid 7]\n"
    "                       [--methods pca,kmeans,eddp] [--concepts 16] [--preset quick]\n"
    "                       [--float16] [--dir DIR]\n";

int main(int argc, char** argv) {
  dx::bench::checkOptions(argc, argv, kUsage, {"--child"});
  using dx::bench::option;
  if (argc >= 6 && std::string(argv[1]) == "--child")
    return child(argv[2], argv[3], std::stoi(argv[4]), argv[5]);
  auto images = dx::bench::splitList(option(argc, argv, "--images", "5000,20000,60000"));
  auto methods = dx::bench::splitList(option(argc, argv, "--methods", "pca,kmeans,eddp"));
  int64_t c = std::stoll(option(argc, argv, "--channels", "512"));
  int64_t g = std::stoll(option(argc, argv, "--grid", "7"));
  int concepts = std::stoi(option(argc, argv, "--concepts", "16"));
  std::string preset = option(argc, argv, "--preset", "quick");
  bool half = false;
  for (int i = 1; i < argc; ++i) half = half || std::string(argv[i]) == "--float16";
  std::string dir = option(argc, argv, "--dir", fs::temp_directory_path().string());
  std::error_code made;
  fs::create_directories(dir, made);
  if (made) {
    std::fprintf(stderr,
                 "streaming_bench: cannot create %s (%s); pass --dir a folder you can write to\n",
                 dir.c_str(), made.message().c_str());
    return 2;
  }
  std::printf("streamed fits, %s caches of N x %lld x %lld x %lld, %d concepts, EDDP preset %s\n",
              half ? "float16" : "float32", (long long)c, (long long)g, (long long)g, concepts,
              preset.c_str());
  std::printf("%-18s %8s %10s %9s %12s %10s %12s %10s\n", "method", "images", "cache MB",
              "seconds", "s/1e6 patch", "vs first", "peak anon MB", "/ cache");
  std::map<std::string, double> firstRate;
  for (const auto& text : images) {
    int64_t n = std::stoll(text);
    std::string path = dir + "/stream_" + text + ".npy";
    writeCache(path, n, c, g, half);
    double cacheMb = double(fs::file_size(path)) / (1 << 20);
    for (const auto& method : methods) {
      std::string cmd = std::string("'") + argv[0] + "' --child '" + path + "' " + method + " " +
                        std::to_string(concepts) + " " + preset;
      FILE* pipe = popen(cmd.c_str(), "r");
      double seconds = -1, peak = -1;
      if (pipe) {
        if (std::fscanf(pipe, "%lf %lf", &seconds, &peak) != 2) seconds = -1;
        pclose(pipe);
      }
      if (seconds < 0) {
        std::printf("%-18s %8lld  failed\n", method.c_str(), (long long)n);
        continue;
      }
      double rate = seconds / (double(n * g * g) / 1e6);
      if (!firstRate.count(method)) firstRate[method] = rate;
      std::printf("%-18s %8lld %10.0f %9.1f %12.2f %10.2f %12.0f %10.2f\n", method.c_str(),
                  (long long)n, cacheMb, seconds, rate, rate / firstRate[method], peak,
                  peak / cacheMb);
      std::fflush(stdout);
    }
    fs::remove(path);
  }
  return 0;
}
