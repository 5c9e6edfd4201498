#pragma once
// INVERT's explanations (docs/methods.md 2): logical formulas over concept literals, built the way
// the beam search builds them, one literal at a time on the right:
//   phi = ((l0 c1 l1) c2 l2) ...    l_k = c_j or NOT c_j,  c_k = AND or OR.
// A negated concept is one literal (it adds no length), so length() counts literals.
// Formulas print in words, e.g. "(sandal AND NOT sneaker) OR bag".
#include <cstddef>
#include <string>
#include <vector>

#include "labeling/label_matrix.h"

namespace dx {

struct Literal {
  size_t concept = 0;
  bool negated = false;
  bool operator==(const Literal& o) const { return concept == o.concept && negated == o.negated; }
};

enum class Connective { And, Or };

class Formula {
 public:
  Formula() = default;
  explicit Formula(Literal first) : mLiterals{first} {}
  // (this c l)
  Formula extended(Connective c, Literal l) const;

  size_t length() const { return mLiterals.size(); }
  const std::vector<Literal>& literals() const { return mLiterals; }
  // connectives()[k] joins literal k + 1 to everything before it.
  const std::vector<Connective>& connectives() const { return mConnectives; }

  // In words with concept names; parentheses wherever the connective changes, so that the
  // text reads correctly with any precedence convention.
  std::string text(const std::vector<std::string>& names) const;

  bool operator==(const Formula& o) const {
    return mLiterals == o.mLiterals && mConnectives == o.mConnectives;
  }

 private:
  std::vector<Literal> mLiterals;
  std::vector<Connective> mConnectives;
};

// The images where `formula` holds, as a bit column of labels.words() words.
std::vector<uint64_t> evaluate(const Formula& formula, const LabelMatrix& labels);

}  // namespace dx
