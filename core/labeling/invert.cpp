#include "labeling/invert.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <thread>

#include "base/stopwatch.h"

namespace dx {
namespace {

// The 2m literal columns, shared read-only by every representation.
struct LiteralColumns {
  const LabelMatrix& labels;
  LabelMatrix negated;
  explicit LiteralColumns(const LabelMatrix& l) : labels(l), negated(l.negated()) {}
  const uint64_t* bits(Literal l) const {
    return l.negated ? negated.column(l.concept) : labels.column(l.concept);
  }
};

// One representation's ranks, doubled so that rank sums are exact integers (mann_whitney.h).
struct Ranks {
  std::vector<int64_t> doubled;
  double tieTerm = 0;
  int64_t total = 0;  // sum of all doubled ranks = N (N + 1)

  Ranks(const float* scores, size_t stride, size_t n, const std::string& what) {
    for (size_t i = 0; i < n; ++i)
      if (std::isnan(scores[i * stride]))
        throw UserError(what + ": the score of image " + std::to_string(i) +
                        " is NaN; INVERT needs a finite order of all images (replace NaNs, "
                        "e.g. with numpy.nan_to_num, or drop those images).");
    doubled = doubledRanks(scores, n, stride, &tieTerm);
    total = static_cast<int64_t>(n) * static_cast<int64_t>(n + 1);
  }

  // Sum over the set bits: one pass over the words, one step per positive image.
  int64_t sumOver(const uint64_t* bits, size_t words) const {
    int64_t sum = 0;
    for (size_t w = 0; w < words; ++w)
      for (uint64_t x = bits[w]; x != 0; x &= x - 1)
        sum += doubled[w * 64 + static_cast<size_t>(__builtin_ctzll(x))];
    return sum;
  }
};

// AUC = (R1 - n1 (n1 + 1) / 2) / (n1 n0), here with R1 doubled; exact integer numerator.
double aucOf(int64_t doubledRankSum, size_t n1, size_t n) {
  int64_t a = static_cast<int64_t>(n1);
  double numerator = static_cast<double>(doubledRankSum - a * (a + 1));
  return numerator / (2.0 * static_cast<double>(n1) * static_cast<double>(n - n1));
}

uint64_t hashWords(const std::vector<uint64_t>& words) {
  uint64_t h = 0x9e3779b97f4a7c15ull;
  for (uint64_t w : words) {  // splitmix64 finaliser over a running combination
    h ^= w + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    h ^= h >> 31;
  }
  return h;
}

struct Score {
  size_t positives = 0;
  int64_t rankSum = 0;  // doubled
  double auc = 0.5;
};

struct Candidate {
  Formula formula;
  std::vector<uint64_t> bits;
  Score score;
  uint64_t hash = 0;
};

// The best `capacity` formulas with distinct positive sets, best first. A newcomer whose AUC
// ties a member ranks after it, which is what the official code's stable sort of old + new
// candidates does; so the first formula found for a positive set is the one that stays.
class Beam {
 public:
  Beam(size_t capacity, InvertMode mode) : mCapacity(capacity), mMode(mode) {}
  bool admits(double auc) const {
    return mMembers.size() < mCapacity || better(auc, mMembers.back().score.auc);
  }
  void offer(Formula formula, const std::vector<uint64_t>& bits, const Score& score);
  const std::vector<Candidate>& members() const { return mMembers; }

 private:
  bool better(double a, double b) const { return mMode == InvertMode::Positive ? a > b : a < b; }

  size_t mCapacity;
  InvertMode mMode;
  std::vector<Candidate> mMembers;
};

void Beam::offer(Formula formula, const std::vector<uint64_t>& bits, const Score& score) {
  if (!admits(score.auc)) return;
  uint64_t hash = hashWords(bits);
  for (const auto& m : mMembers)
    if (m.hash == hash && m.score.positives == score.positives && m.bits == bits) return;
  auto before = [&](double auc, const Candidate& m) { return better(auc, m.score.auc); };
  auto at = std::upper_bound(mMembers.begin(), mMembers.end(), score.auc, before);
  mMembers.insert(at, Candidate{std::move(formula), bits, score, hash});
  if (mMembers.size() > mCapacity) mMembers.pop_back();
}

struct PoolLiteral {
  Literal literal;
  double auc;
};

class Search {
 public:
  Search(const LiteralColumns& literals, const Ranks& ranks, const InvertOptions& options)
      : mLiterals(literals), mRanks(ranks), mOptions(options),
        mImages(literals.labels.images()), mWords(literals.labels.words()) {}

  std::vector<LabeledFormula> run() {
    Beam beam = literalBeam();
    for (size_t length = 2; length <= mOptions.length; ++length) beam = extended(beam);
    return report(beam);
  }

 private:
  bool admissible(size_t positives) const {
    if (positives == 0 || positives == mImages) return false;
    double t = static_cast<double>(positives) / static_cast<double>(mImages);
    return t >= mOptions.minFraction && t <= mOptions.maxFraction;
  }

  Beam literalBeam();
  Beam extended(const Beam& beam);
  std::vector<Score> meetings(const Candidate& phi) const;
  Score extension(const Candidate& phi, const Score& meet, Connective c, Literal psi) const;
  std::vector<LabeledFormula> report(const Beam& beam) const;

  const LiteralColumns& mLiterals;
  const Ranks& mRanks;
  const InvertOptions& mOptions;
  size_t mImages, mWords;
  std::vector<Score> mConcepts;  // positives and rank sum of each c_j
  std::vector<PoolLiteral> mPool;
  std::vector<bool> mInPool;     // concept j has a literal in the pool
};

// Steps 1-3: score the 2m literals in the official order (c_0..c_m-1, then NOT c_0..NOT c_m-1),
// start the beam with the best admissible ones and order the pool by |AUC - 0.5|.
Beam Search::literalBeam() {
  const LabelMatrix& labels = mLiterals.labels;
  for (size_t j = 0; j < labels.concepts(); ++j)
    mConcepts.push_back({labels.positives(j), mRanks.sumOver(labels.column(j), mWords), 0.5});
  std::vector<std::pair<Literal, Score>> scored;
  for (int negated = 0; negated < 2; ++negated)
    for (size_t j = 0; j < labels.concepts(); ++j) {
      size_t n1 = mConcepts[j].positives;
      int64_t sum = mConcepts[j].rankSum;
      if (negated) n1 = mImages - n1, sum = mRanks.total - sum;  // NOT c: the complement
      if (n1 == 0 || n1 == mImages) continue;  // constant: AUC undefined, extends to nothing
      scored.push_back({Literal{j, negated == 1}, Score{n1, sum, aucOf(sum, n1, mImages)}});
    }
  Beam beam(mOptions.beam, mOptions.mode);
  for (const auto& [literal, score] : scored) {
    mPool.push_back({literal, score.auc});
    if (!admissible(score.positives) || !beam.admits(score.auc)) continue;
    const uint64_t* bits = mLiterals.bits(literal);
    beam.offer(Formula(literal), std::vector<uint64_t>(bits, bits + mWords), score);
  }
  std::stable_sort(mPool.begin(), mPool.end(), [](const PoolLiteral& a, const PoolLiteral& b) {
    return std::abs(a.auc - 0.5) > std::abs(b.auc - 0.5);
  });
  if (mOptions.poolLimit > 0 && mPool.size() > mOptions.poolLimit) mPool.resize(mOptions.poolLimit);
  mInPool.assign(labels.concepts(), false);
  for (const auto& p : mPool) mInPool[p.literal.concept] = true;
  return beam;
}

// |phi AND c_j| and its rank sum for every pooled concept: one pass over the words and the
// common images. The four extensions by c_j and NOT c_j follow by inclusion-exclusion.
std::vector<Score> Search::meetings(const Candidate& phi) const {
  std::vector<Score> meet(mConcepts.size());
  std::vector<uint64_t> common(mWords);
  for (size_t j = 0; j < meet.size(); ++j) {
    if (!mInPool[j]) continue;
    const uint64_t* c = mLiterals.labels.column(j);
    for (size_t w = 0; w < mWords; ++w) {
      common[w] = phi.bits[w] & c[w];
      meet[j].positives += static_cast<size_t>(__builtin_popcountll(common[w]));
    }
    meet[j].rankSum = mRanks.sumOver(common.data(), mWords);
  }
  return meet;
}

// Positives and rank sum of (phi c psi) from those of phi, c_j and phi AND c_j (psi = c_j or
// NOT c_j): |phi OR c| = |phi| + |c| - |phi AND c|, |phi AND NOT c| = |phi| - |phi AND c|,
// |phi OR NOT c| = |NOT c| + |phi AND c|; rank sums alike.
Score Search::extension(const Candidate& phi, const Score& meet, Connective c, Literal psi) const {
  const Score& f = phi.score;
  const Score& x = mConcepts[psi.concept];
  Score s;
  if (c == Connective::And && !psi.negated) s = meet;
  else if (c == Connective::Or && !psi.negated)
    s = {f.positives + x.positives - meet.positives, f.rankSum + x.rankSum - meet.rankSum, 0};
  else if (c == Connective::And)
    s = {f.positives - meet.positives, f.rankSum - meet.rankSum, 0};
  else
    s = {mImages - x.positives + meet.positives, mRanks.total - x.rankSum + meet.rankSum, 0};
  return s;
}

// Step 4 for one length: (phi AND psi) then (phi OR psi) for every beam formula phi and pool
// literal psi, competing with the old beam.
Beam Search::extended(const Beam& beam) {
  Beam next = beam;
  std::vector<uint64_t> scratch(mWords);
  for (const auto& phi : beam.members()) {
    if (mOptions.cancel.cancelled()) throw Cancelled();
    auto meet = meetings(phi);
    for (const auto& psi : mPool) {
      for (Connective c : {Connective::And, Connective::Or}) {
        Score score = extension(phi, meet[psi.literal.concept], c, psi.literal);
        if (!admissible(score.positives)) continue;
        score.auc = aucOf(score.rankSum, score.positives, mImages);
        if (!next.admits(score.auc)) continue;
        const uint64_t* bits = mLiterals.bits(psi.literal);  // only admitted sets get their bits
        for (size_t w = 0; w < mWords; ++w)
          scratch[w] = c == Connective::And ? (phi.bits[w] & bits[w]) : (phi.bits[w] | bits[w]);
        next.offer(phi.formula.extended(c, psi.literal), scratch, score);
      }
    }
  }
  return next;
}

std::vector<LabeledFormula> Search::report(const Beam& beam) const {
  std::vector<LabeledFormula> out;
  for (const auto& m : beam.members()) {
    size_t n1 = m.score.positives, n0 = mImages - n1;
    int64_t a = static_cast<int64_t>(n1);
    double u1 = static_cast<double>(m.score.rankSum - a * (a + 1)) / 2.0;
    out.push_back({m.formula, m.score.auc, n1,
                   static_cast<double>(n1) / static_cast<double>(mImages),
                   mannWhitneyPValue(u1, n1, n0, mRanks.tieTerm, mOptions.alternative)});
  }
  return out;
}

void validate(const LabelMatrix& labels, const InvertOptions& o) {
  if (o.length < 1) throw UserError("INVERT: the formula length L must be at least 1.");
  if (o.beam < 1) throw UserError("INVERT: the beam size B must be at least 1.");
  if (!(o.minFraction >= 0 && o.minFraction <= o.maxFraction && o.maxFraction <= 1))
    throw UserError("INVERT: the fraction bounds must satisfy 0 <= min (" +
                    std::to_string(o.minFraction) + ") <= max (" + std::to_string(o.maxFraction) +
                    ") <= 1.");
  if (labels.images() < 2 || labels.concepts() == 0)
    throw UserError("INVERT needs at least 2 images and 1 concept, got " +
                    std::to_string(labels.images()) + " images and " +
                    std::to_string(labels.concepts()) + " concepts.");
}

std::vector<LabeledFormula> labelOne(const float* scores, size_t stride,
                                     const LiteralColumns& literals, const InvertOptions& options,
                                     const std::string& what) {
  Ranks ranks(scores, stride, literals.labels.images(), what);
  return Search(literals, ranks, options).run();
}

}  // namespace

std::vector<LabeledFormula> labelRepresentation(const float* scores, size_t stride,
                                                const LabelMatrix& labels,
                                                const InvertOptions& options) {
  validate(labels, options);
  if (options.cancel.cancelled()) throw Cancelled();
  LiteralColumns literals(labels);
  return labelOne(scores, stride, literals, options, "representation");
}

std::vector<std::vector<LabeledFormula>> labelRepresentations(const float* scores,
                                                              size_t representations,
                                                              const LabelMatrix& labels,
                                                              const InvertOptions& options) {
  validate(labels, options);
  LiteralColumns literals(labels);
  std::vector<std::vector<LabeledFormula>> results(representations);
  std::atomic<size_t> next{0};
  size_t done = 0;
  std::mutex mutex;  // guards done, error and the progress sink (which need not be thread-safe)
  std::exception_ptr error;
  Stopwatch clock;
  auto work = [&] {
    try {
      while (!options.cancel.cancelled()) {
        size_t r = next++;
        if (r >= representations) break;
        results[r] = labelOne(scores + r, representations, literals, options,
                              "representation " + std::to_string(r));
        std::lock_guard<std::mutex> lock(mutex);
        ++done;
        if (options.progress)
          options.progress(clock.progress("label", static_cast<long long>(done),
                                          static_cast<long long>(representations)));
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex);
      if (!error) error = std::current_exception();
      next = representations;  // the others stop at their next representation
    }
  };
  unsigned threads = options.threads ? options.threads : std::thread::hardware_concurrency();
  threads = static_cast<unsigned>(
      std::clamp<size_t>(threads, 1, std::max<size_t>(representations, 1)));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  if (done < representations) throw Cancelled();
  return results;
}

}  // namespace dx
