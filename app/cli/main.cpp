// directrix-cli: the headless front end on the same core as the GUI.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "commands.h"
#include "discovery/method_registry.h"
#include "base/progress.h"

namespace {

const char kUsage[] =
    "usage: directrix-cli <command> [options]\n"
    "\n"
    "commands:\n"
    "  info     --model M | --demo [--json]\n"
    "           layers (name, node, shape), classes and input preprocessing of a model\n"
    "  extract  --model M --images DIR --layer L --out DIR [--limit N] [--device cpu|cuda]\n"
    "           [--float16] [--batch-size B] [--decode-workers W] [--force] [--quiet]\n"
    "           [--rank-timeout S]\n"
    "           activations of layer L (default: the deepest) for every image, cached as .npy\n"
    "           (W decoding threads run beside the forward pass; default: a quarter of the cores)\n"
    "  predict  --model M --images DIR [--limit N] [--device cpu|cuda] [--top K] [--quiet]\n"
    "           class probabilities per image, as tab-separated lines, and the accuracy\n"
    "  discover --activations A.npy | --cache DIR  --concepts I [--head H.pt] [--layer L]\n"
    "           [--method METHODS] [--seed S] [--top K]\n"
    "           [--preset PRESETS]\n"
    "           [--influence-images N] [--rank-timeout S] [--stability R] --out DIR\n"
    "           concept directions: decoders.npy, biases.npy, encoders.npy, concepts.json\n"
    "           (fractions, influence per class with p-values, top patches), image_strength.npy;\n"
    "           --stability R refits with R other seeds and records each concept's stability\n"
    "           (median matched firing IoU; below 0.5 it is marked unstable)\n"
    "  conceptworld --split train|test [--count N] [--seed S] [--no-watermark] --out DIR\n"
    "           writes the synthetic ConceptWorld images, concept masks and concepts.csv\n"
    "  label    --scores S.npy --labels Y.npy --names names.txt --out labels.json\n"
    "           [--length L] [--beam B] [--min-fraction f] [--max-fraction f]\n"
    "           [--mode positive|negative] [--pool P] [--threads T] [--reduce max|mean] [--quiet]\n"
    "           INVERT: the best B formulas of <= L concepts (default 3 and 3) for each column\n"
    "           of S (N x R float32; N x C x h x w maps or activations are reduced over space,\n"
    "           a cache's N x p x C class_tokens.npy over its tokens, so each channel is one\n"
    "           column) over the labels Y (N x m bool) named by names.txt;\n"
    "           fractions bound the formula's share of images (default 0 to 0.5)\n"
    "  tcav     --model M --class K [--images DIR] --concept DIR [--concept DIR...]\n"
    "           --random DIR --random DIR [...] | --random-sets DIR  [--layer L] [--runs R]\n"
    "           [--spatial] [--classifier logistic|sgd|mean] [--select labelled|predicted]\n"
    "           [--welch] [--encoders E.npy] [--cav C.npy ...] [--limit N] [--seed S]\n"
    "           [--relative A:B ...] (concept A against concept B instead of random)\n"
    "           [--class-token] (at a transformer block: CAVs and derivatives on each\n"
    "           image's class token, an image-level vector, instead of its patch grid)\n"
    "           [--significance a] --out DIR\n"
    "           TCAV (SACV with --spatial) of each concept folder for class K over the images\n"
    "           of K in --images (its sub-folder named K, else those predicted as K; without\n"
    "           --images, the random images predicted as K); run r\n"
    "           trains the concept against random set r, the baseline random r against r+1\n"
    "           (--random-sets: one random set per sub-folder); --encoders adds EDDP concepts,\n"
    "           --cav CAVs saved by an earlier run;\n"
    "           writes scores.json (scores per run, mean, std, t-test p, Bonferroni\n"
    "           significance, held-out accuracies) and cavs/*.npy + .json\n"
    "  visualize --model M | --demo  --concepts DIR --concept I --out FILE.png | --keep\n"
    "           [--direction decoder|encoder] [--steps N] [--size S] [--seed S]\n"
    "           [--images DIR [--colour-images N]] [--device cpu|cuda] [--quiet]\n"
    "           renders concept I of a folder written by discover as the image that drives it:\n"
    "           its detector w.x - b (decoder) or the movement along its signal vector s\n"
    "           (encoder) at the centre patch, by gradient ascent on a Fourier-parametrised\n"
    "           image under random jitter, scale and rotation (default 512 steps, the model's\n"
    "           input size, seed 0); --images estimates the colour statistics from N images;\n"
    "           --keep stores it in DIR/renderings/, where the app's concept page shows it\n"
    "  audit    --model M | --demo  --concepts DIR [--cache C] [--images DIR] [--label]\n"
    "           [--tags T.csv] [--class-parts P.csv] [--min-effect X] [--fdr q]\n"
    "           --out FILE.csv|FILE.json [--quiet]\n"
    "           sorts the concepts of a folder written by discover into target, bias and\n"
    "           context for every class (the rule is printed); C defaults to the cache discover\n"
    "           used; --label names the concepts with INVERT first (classes, ConceptWorld tags,\n"
    "           --tags), which target against bias needs; P lists words that are part of a\n"
    "           class (class,word,word...)\n"
    "  report   the options of audit, [--tcav scores.json ...] [--title T] [--patches K]\n"
    "           --out FILE.html\n"
    "           one self-contained HTML page: concept cards with top patches (give --images)\n"
    "           and kept renderings, influence matrix, audit categories, TCAV results,\n"
    "           settings, model and data fingerprints\n"
    "\n"
    "--demo replaces --model (and --images, unless given) with the Fashion-MNIST demo.\n"
    "--images takes a folder (one sub-folder per class, or flat) or fashion-mnist[:train|:test].\n"
    "extract and discover run as one job over several processes when RANK, WORLD_SIZE,\n"
    "MASTER_ADDR and MASTER_PORT are set (as torchrun and srun wrappers set them): extract\n"
    "shards the images and merges one cache; discover shares the images out (every method\n"
    "fits data-parallel); a rank silent for S seconds (default 300) fails the job.\n";

// The usage text with the registry's method and preset names filled in.
std::string usage() {
  std::string text = kUsage;
  auto fill = [&text](const std::string& placeholder, const std::string& names) {
    text.replace(text.find(placeholder), placeholder.size(), names);
  };
  fill("METHODS", dx::joinedNames(dx::conceptMethodNames(), "|"));
  fill("PRESETS", dx::joinedNames(dx::eddpPresetNames(), "|"));
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(usage().c_str(), args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  std::string command = args[0];
  args.erase(args.begin());
  try {
    if (command == "info") return dx::cli::runInfo(args);
    if (command == "extract") return dx::cli::runExtract(args);
    if (command == "predict") return dx::cli::runPredict(args);
    if (command == "discover") return dx::cli::runDiscover(args);
    if (command == "conceptworld") return dx::cli::runConceptWorld(args);
    if (command == "label") return dx::cli::runLabel(args);
    if (command == "tcav") return dx::cli::runTcav(args);
    if (command == "visualize") return dx::cli::runVisualize(args);
    if (command == "audit") return dx::cli::runAudit(args);
    if (command == "report") return dx::cli::runReport(args);
    std::fprintf(stderr, "directrix-cli: unknown command \"%s\"\n\n%s", command.c_str(),
                 usage().c_str());
    return 2;
  } catch (const dx::Cancelled&) {
    std::fprintf(stderr, "directrix-cli: cancelled\n");
    return 130;
  } catch (const dx::UserError& e) {
    std::fprintf(stderr, "directrix-cli %s: error: %s\n", command.c_str(), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "directrix-cli %s: internal error: %s\n", command.c_str(), e.what());
    return 3;
  }
}
