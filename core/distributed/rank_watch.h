#pragma once
// Who finished, who failed, who went silent: the statuses of one step of a multi-process job,
// kept as keys in the job's store. Every rank sends a heartbeat while the step runs, so rank 0
// notices a rank that died (SIGKILL, a lost node) within `silence` and fails the job with a
// message that names it, instead of waiting forever. The other ranks' heartbeat threads watch
// for rank 0's outcome, so a failure on rank 0 stops them at their next batch.
// The heartbeat says that a process lives, not that it progresses: a rank whose main thread
// hangs (a stalled network filesystem) keeps beating, and the job waits for it.
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/progress.h"
#include "distributed/process_group.h"

namespace dx {

class RankWatch {
 public:
  // `step` names the work (keys live under it); `silence`: how long a rank may go without a
  // heartbeat or status before it counts as gone; `cancel`: the user's cancel (Ctrl-C).
  RankWatch(ProcessGroup& group, std::string step, std::chrono::milliseconds silence,
            const CancelToken& cancel);
  ~RankWatch();  // stops this rank's heartbeat
  RankWatch(const RankWatch&) = delete;
  RankWatch& operator=(const RankWatch&) = delete;

  // Fires when the user cancels, when rank 0 has published a failure, or when the store is lost;
  // give it to this rank's work. stopReason() says why (empty for the user's cancel).
  const CancelToken& token() const { return mToken; }
  std::string stopReason() const;

  // This rank's part is done (`note` reaches rank 0) / failed with `message`.
  void done(const std::string& note = "");
  void failed(const std::string& message);

  // Rank 0: waits until every rank is done and returns their notes, by rank. Throws UserError
  // when one failed or fell silent, naming it and its work (`describeWork(rank)`, e.g.
  // "shard 1: images 512-1023").
  std::vector<std::string> awaitEveryRank(const std::function<std::string(int)>& describeWork);

  // Rank 0 ends the step with `outcome` ("" = success, else the error every rank reports) and
  // waits (at most `silence`, 5 s after a failure) until every rank has read it, so its store
  // outlives their reads.
  void finish(const std::string& outcome);
  // Other ranks: waits for rank 0's outcome; throws UserError with it when the step failed, or
  // when rank 0 went away.
  void awaitOutcome();

 private:
  std::string key(const std::string& what, int rank) const;
  std::string lostMessage(const std::exception& e) const;
  void beat();
  void stop(const std::string& reason);

  ProcessGroup& mGroup;
  std::string mStep;
  std::chrono::milliseconds mSilence;
  CancelToken mUserCancel, mToken;
  mutable std::mutex mReasonMutex;
  std::string mReason;
  std::atomic<bool> mStop{false};
  std::thread mHeartbeat;
};

}  // namespace dx
