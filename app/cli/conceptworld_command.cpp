// directrix-cli conceptworld: writes a ConceptWorld split (images, concept masks, concepts.csv)
// to a folder, e.g. for packaging/train_conceptworld.py.
#include <csignal>
#include <iostream>

#include "arguments.h"
#include "conceptworld/conceptworld_export.h"
#include "terminal_progress.h"

namespace dx::cli {
namespace {

CancelToken gConceptWorldCancel;

ConceptWorldSpec specFromArguments(const Arguments& a) {
  std::string split = a.value("split");
  if (split != "train" && split != "test")
    throw UserError("give --split train or --split test (got \"" + split + "\").");
  ConceptWorldSpec spec = conceptWorldDefaults(split == "train" ? ConceptWorldSpec::Train
                                                                : ConceptWorldSpec::Test);
  spec.count = a.count("count", spec.count);
  spec.seed = a.count("seed", spec.seed);
  spec.watermark = !a.has("no-watermark");
  return spec;
}

}  // namespace

int runConceptWorld(const std::vector<std::string>& args) {
  Arguments a(args, {"split", "count", "seed", "out"}, {"no-watermark", "quiet"});
  if (!a.has("out")) throw UserError("give --out DIR, a new folder that receives the images.");
  ConceptWorld world(specFromArguments(a));
  // Ctrl-C stops between images; what was written so far stays, without concepts.csv.
  std::signal(SIGINT, [](int) { gConceptWorldCancel.cancel(); });
  TerminalProgress bar(!a.has("quiet"));
  writeConceptWorld(world, a.value("out"), std::ref(bar), gConceptWorldCancel);
  std::cout << "wrote: " << a.value("out") << "\n  " << world.description() << "\n  "
            << world.fingerprint() << "\n";
  return 0;
}

}  // namespace dx::cli
