#include "labeling/concept_labeling.h"

#include <unordered_map>

#include "conceptworld/conceptworld.h"
#include "labeling/image_tags.h"

namespace dx {
namespace {

// Columns: classes (if used), then ConceptWorld concepts, then tags; names stay unique.
struct Vocabulary {
  std::vector<std::string> names;
  std::vector<std::vector<uint8_t>> columns;  // per name, per image
  void add(const std::string& name, std::vector<uint8_t> column) {
    size_t positives = 0;
    for (uint8_t v : column) positives += v != 0;
    if (positives == 0 || positives == column.size()) return;  // tells nothing
    names.push_back(name);
    columns.push_back(std::move(column));
  }
};

void addClasses(Vocabulary& v, const ConceptSession& s) {
  const size_t n = s.images();
  for (size_t k = 0; k < s.classes().size(); ++k) {
    std::vector<uint8_t> column(n);
    for (size_t i = 0; i < n; ++i) column[i] = s.trueClass(i) == int64_t(k);
    v.add(s.classes()[k], std::move(column));
  }
}

void addConceptWorldTags(Vocabulary& v, const ConceptSession& s) {
  auto world = std::dynamic_pointer_cast<const ConceptWorld>(s.imageSource());
  if (!world) return;
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < world->size(); ++i) index[world->itemName(i)] = i;
  const size_t n = s.images();
  std::vector<std::vector<uint8_t>> columns(size_t(cw::ConceptCount), std::vector<uint8_t>(n));
  for (size_t i = 0; i < n; ++i) {
    auto it = index.find(s.imageName(i));
    if (it == index.end()) continue;
    for (int c : world->conceptsPresent(it->second)) columns[size_t(c)][i] = 1;
  }
  for (int c = 0; c < cw::ConceptCount; ++c)
    v.add(world->conceptNames()[size_t(c)], std::move(columns[size_t(c)]));
}

void addTags(Vocabulary& v, const ConceptSession& s, const std::string& csv) {
  std::vector<std::string> names;
  for (size_t i = 0; i < s.images(); ++i) names.push_back(s.imageName(i));
  ImageTags tags = readImageTags(csv, names);
  for (size_t t = 0; t < tags.labels.concepts(); ++t) {
    std::vector<uint8_t> column(names.size());
    for (size_t i = 0; i < names.size(); ++i) column[i] = tags.labels.test(i, t);
    v.add(tags.labels.names()[t], std::move(column));
  }
}

}  // namespace

LabelMatrix conceptVocabulary(const ConceptSession& s, const ConceptLabelingOptions& o) {
  Vocabulary v;
  if (o.useClasses) addClasses(v, s);
  addConceptWorldTags(v, s);
  if (!o.tagsCsv.empty()) addTags(v, s, o.tagsCsv);
  if (v.names.empty())
    throw UserError("nothing to name the concepts with: the images have no class labels (one "
                    "sub-folder per class) and no tags file was given (image,tag,tag... per line).");
  const size_t n = s.images();
  std::vector<uint8_t> dense(n * v.names.size());
  for (size_t j = 0; j < v.names.size(); ++j)
    for (size_t i = 0; i < n; ++i) dense[i * v.names.size() + j] = v.columns[j][i];
  return LabelMatrix::fromDense(dense.data(), n, v.names);
}

std::vector<ConceptLabel> labelConcepts(const ConceptSession& s, const ConceptLabelingOptions& o) {
  LabelMatrix labels = conceptVocabulary(s, o);
  const size_t n = s.images(), concepts = size_t(s.concepts());
  std::vector<float> scores(n * concepts);
  for (size_t i = 0; i < n; ++i) {
    if (o.invert.cancel.cancelled()) throw Cancelled();
    if (o.meanOverPositions) {
      for (size_t c = 0; c < concepts; ++c) {
        auto map = s.conceptMap(i, int(c));
        double sum = 0;
        for (float x : map) sum += x;
        scores[i * concepts + c] = float(sum / double(std::max<size_t>(1, map.size())));
      }
    } else {
      auto row = s.strengths(i);
      std::copy(row.begin(), row.end(), scores.begin() + std::ptrdiff_t(i * concepts));
    }
  }
  auto beams = labelRepresentations(scores.data(), concepts, labels, o.invert);
  std::vector<ConceptLabel> out(concepts);
  for (size_t c = 0; c < concepts; ++c) {
    if (beams[c].empty()) continue;
    ConceptLabel& l = out[c];
    l.found = true;
    l.best = beams[c].front();
    l.text = l.best.formula.text(labels.names());
    auto bits = evaluate(l.best.formula, labels);
    l.positives.resize(n);
    for (size_t i = 0; i < n; ++i) l.positives[i] = (bits[i / 64] >> (i % 64)) & 1u;
  }
  return out;
}

void applyConceptLabels(ConceptSession& s, const std::vector<ConceptLabel>& labels) {
  for (size_t c = 0; c < labels.size() && int(c) < s.concepts(); ++c)
    if (labels[c].found)
      s.setInvertLabel(int(c), labels[c].text, labels[c].best.auc, labels[c].best.pValue,
                       labels[c].best.fraction, labels[c].positives);
}

}  // namespace dx
