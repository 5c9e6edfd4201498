#pragma once
// Who finished, who failed, who went silent: the statuses of one step of a multi-process job,
// kept as keys in the job's store. Every rank sends a heartbeat while the step runs, so rank 0
// notices a rank that died (SIGKILL, a lost node) within `silence` and fails the job with a
// message that names it, instead of waiting forever.
#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "base/progress.h"
#include "distributed/process_group.h"

namespace dx {

class RankWatch {
 public:
  // `step` names the work (keys live under it); `silence`: how long a rank may go without a
  // heartbeat or status before it counts as gone.
  RankWatch(ProcessGroup& group, std::string step, std::chrono::milliseconds silence);
  ~RankWatch();  // stops this rank's heartbeat
  RankWatch(const RankWatch&) = delete;
  RankWatch& operator=(const RankWatch&) = delete;

  // This rank's part is done (`note` reaches rank 0) / failed with `message`.
  void done(const std::string& note = "");
  void failed(const std::string& message);

  // Rank 0: waits until every rank is done and returns their notes, by rank. Throws UserError
  // when one failed or fell silent, naming it and its work (`describeWork(rank)`, e.g.
  // "shard 1: images 512-1023").
  std::vector<std::string> awaitEveryRank(const std::function<std::string(int)>& describeWork,
                      const CancelToken& cancel);

  // Rank 0 ends the step with `outcome` ("" = success, else the error every rank reports) and
  // waits (at most `silence`) until every rank has read it, so its store outlives their reads.
  void finish(const std::string& outcome);
  // Other ranks: waits for rank 0's outcome; throws UserError with it when the step failed, or
  // when rank 0 went away.
  void awaitOutcome(const CancelToken& cancel);

 private:
  std::string key(const std::string& what, int rank) const;
  void beat();

  ProcessGroup& mGroup;
  std::string mStep;
  std::chrono::milliseconds mSilence;
  std::atomic<bool> mStop{false};
  std::thread mHeartbeat;
};

}  // namespace dx
