#include "labeling/formula.h"

namespace dx {

Formula Formula::extended(Connective c, Literal l) const {
  Formula f = *this;
  f.mConnectives.push_back(c);
  f.mLiterals.push_back(l);
  return f;
}

std::string Formula::text(const std::vector<std::string>& names) const {
  auto literal = [&](const Literal& l) {
    return (l.negated ? "NOT " : "") + names.at(l.concept);
  };
  if (mLiterals.empty()) return {};
  std::string s = literal(mLiterals[0]);
  for (size_t k = 1; k < mLiterals.size(); ++k) {
    Connective c = mConnectives[k - 1];
    if (k >= 2 && c != mConnectives[k - 2]) s = "(" + s + ")";
    s += (c == Connective::And ? " AND " : " OR ") + literal(mLiterals[k]);
  }
  return s;
}

std::vector<uint64_t> evaluate(const Formula& formula, const LabelMatrix& labels) {
  size_t words = labels.words();
  auto literalBits = [&](const Literal& l) {
    const uint64_t* c = labels.column(l.concept);
    std::vector<uint64_t> bits(c, c + words);
    if (l.negated) {
      for (auto& w : bits) w = ~w;
      if (words > 0) bits.back() &= lastWordMask(labels.images());
    }
    return bits;
  };
  if (formula.length() == 0) return std::vector<uint64_t>(words, 0);
  auto result = literalBits(formula.literals()[0]);
  for (size_t k = 1; k < formula.length(); ++k) {
    auto next = literalBits(formula.literals()[k]);
    bool conjunction = formula.connectives()[k - 1] == Connective::And;
    for (size_t w = 0; w < words; ++w)
      result[w] = conjunction ? (result[w] & next[w]) : (result[w] | next[w]);
  }
  return result;
}

}  // namespace dx
