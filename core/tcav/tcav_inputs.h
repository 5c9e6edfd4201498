#pragma once
// The inputs of a TCAV run (docs/methods.md 3.1) made from image folders: activation sets named
// after their folders, and the images that count as the explained class. `directrix-cli tcav` and
// TcavStudy (the GUI's facade, tcav_study.h) both build their inputs here, so a folder gives the
// same set, name and class selection in both.
//
// Tensors: activations N x C x h x w float32 on the CPU (as imageActivations returns them).
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "tcav/tcav.h"
#include "activations/image_activations.h"

namespace dx {

// A folder's name as a concept's name ("data/striped/" -> "striped").
std::string folderName(const std::string& dir);

// Activations of every folder at `layer` (limit 0 = every image), named after the folder and
// made unique ("a", "a_2", ...). Progress per folder under "activations <name>".
std::vector<ConceptSet> folderSets(const ConceptModel& model, const std::vector<std::string>& dirs,
                                   const std::string& layer, size_t limit,
                                   const ProgressSink& progress = {},
                                   const CancelToken& cancel = {});
// The same folders with everything imageActivations keeps (logits, class tokens at a transformer
// layer), named as folderSets names them.
struct NamedActivations {
  std::string name;
  ImageActivations acts;
};
std::vector<NamedActivations> folderActivations(const ConceptModel& model,
                                                const std::vector<std::string>& dirs,
                                                const std::string& layer, size_t limit,
                                                const ProgressSink& progress = {},
                                                const CancelToken& cancel = {});
// The activation sets of folderActivations' folders, as TCAV takes them.
std::vector<ConceptSet> conceptSets(const std::vector<NamedActivations>& folders);
// Class tokens N x p x C as the image-level vectors TCAV takes on them: N x (p*C) x 1 x 1.
at::Tensor classTokenVectors(const at::Tensor& classTokens);
// The same sets with each image's class tokens in place of its patch grid (classTokenVectors);
// throws UserError when a folder's activations carry no class tokens.
std::vector<ConceptSet> classTokenSets(const std::vector<NamedActivations>& folders);
// conceptSets, or classTokenSets for a TCAV run on the class token.
std::vector<ConceptSet> tcavSets(const std::vector<NamedActivations>& folders, bool onClassToken);
// A TCAV run on the class token needs a layer that keeps one and no SACV (the token has no
// positions): throws UserError naming the fix otherwise. The CLI and the GUI's study check here,
// before any image is read.
void checkClassTokenRun(const ConceptModel& model, const std::string& layer, bool spatial);

// Which images count as class k (`className`): with select "labelled" those whose label names
// the class (a sub-folder named like it), with "predicted" those the model predicts as k, and
// with "" labelled when some label names the class, else predicted. labels index labelNames
// (-1: unlabelled); predictions are class indices of the model. Returns the rows and the rule
// used in *how. Throws UserError for another `select`, a "labelled" class without such a label,
// or fewer than 2 images (`what` names the images in the message).
std::vector<int64_t> classRows(const std::vector<int>& labels,
                               const std::vector<std::string>& labelNames,
                               const std::vector<int64_t>& predictions,
                               const std::string& className, int64_t k, const std::string& select,
                               std::string* how, const std::string& what);

// The argmax of each row of all.logits.
std::vector<int64_t> predictedClasses(const ImageActivations& all);

}  // namespace dx
