#pragma once
// Names every discovered concept with INVERT (docs/methods.md 2): the concept's per-image strength
// (maximum of its detector map, or the mean) is the scalar representation, and the vocabulary is
// the dataset's classes, ConceptWorld's concept tags when the images are ConceptWorld, and an
// optional tags file (image,tag,tag...). The best formula becomes the concept's label.
#include <string>
#include <vector>

#include "analysis/concept_session.h"
#include "labeling/invert.h"

namespace dx {

struct ConceptLabelingOptions {
  std::string tagsCsv;        // optional image,tag,tag... file
  bool useClasses = true;     // the true class of each image as a label
  bool meanOverPositions = false;  // scalar = mean of the map instead of its maximum (slower)
  InvertOptions invert;       // formula length, beam, bounds, progress and cancel for INVERT
};

struct ConceptLabel {
  LabeledFormula best;              // the top formula (valid when found)
  bool found = false;
  std::string text;                 // the formula in words
  std::vector<uint8_t> positives;   // per image: the formula holds
};

// Image-level labels for the session's images. Throws UserError when the vocabulary is empty
// (no labelled classes, no tags) or the tags file is bad.
LabelMatrix conceptVocabulary(const ConceptSession& session, const ConceptLabelingOptions& options);

// One label per concept, computed in parallel; does not modify the session (apply the results on
// the thread that owns it with applyConceptLabels).
std::vector<ConceptLabel> labelConcepts(const ConceptSession& session,
                                        const ConceptLabelingOptions& options);
void applyConceptLabels(ConceptSession& session, const std::vector<ConceptLabel>& labels);

}  // namespace dx
