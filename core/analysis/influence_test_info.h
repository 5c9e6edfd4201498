#pragma once
// How the influence of concepts on classes was tested (analysis/influence.h), for legends and
// concepts.json ("influence_test"). No torch here: the GUI includes it.
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace dx {

struct InfluenceTestInfo {
  std::string description;  // one sentence (InfluenceResult::test); empty: not tested
  std::string null = "pattern";
  bool exact = false;
  int nullDraws = 0, tests = 0;  // tests: concept x class cells tested
  double alpha = 0, fdr = 0.05, minEffect = 0, cutoff = -1;
};

nlohmann::json influenceTestJson(const InfluenceTestInfo& t);
InfluenceTestInfo influenceTestFromJson(const nlohmann::json& j);

}  // namespace dx
