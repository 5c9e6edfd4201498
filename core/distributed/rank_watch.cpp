#include "distributed/rank_watch.h"

#include <algorithm>
#include <cstdio>
#include <optional>

namespace dx {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kBeat = std::chrono::milliseconds(250);
constexpr auto kPoll = std::chrono::milliseconds(50);
const std::string kFailed = "failed: ";

std::string seconds(std::chrono::milliseconds d) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", double(d.count()) / 1000.0);
  return text;
}

}  // namespace

RankWatch::RankWatch(ProcessGroup& group, std::string step, std::chrono::milliseconds silence,
                     const CancelToken& cancel)
    : mGroup(group), mStep(std::move(step)), mSilence(silence), mUserCancel(cancel) {
  mHeartbeat = std::thread([this] { beat(); });
}

RankWatch::~RankWatch() {
  mStop = true;
  mHeartbeat.join();
}

std::string RankWatch::key(const std::string& what, int rank) const {
  return mStep + "/" + what + "/" + std::to_string(rank);
}

std::string RankWatch::lostMessage(const std::exception& e) const {
  const Launch& l = mGroup.launch();
  return l.describe() + ": lost the job's store at " + l.masterAddr + ":" +
         std::to_string(l.masterPort) + " (" + e.what() + "): rank 0 died or ended. See its "
         "messages.";
}

std::string RankWatch::stopReason() const {
  std::lock_guard<std::mutex> lock(mReasonMutex);
  return mReason;
}

void RankWatch::stop(const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(mReasonMutex);
    if (mReason.empty()) mReason = reason;
  }
  mToken.cancel();
}

// Beats, and on the other ranks watches for rank 0's failure, until the step ends.
void RankWatch::beat() {
  while (!mStop) {
    if (mUserCancel.cancelled()) mToken.cancel();
    try {
      mGroup.add(key("alive", mGroup.rank()), 1);
      if (mGroup.rank() != 0)
        if (auto outcome = mGroup.read(mStep + "/outcome"); outcome && *outcome != "ok")
          stop(outcome->substr(kFailed.size()));
    } catch (const std::exception& e) {
      stop(lostMessage(e));
      return;
    }
    for (auto t = Clock::now(); !mStop && Clock::now() - t < kBeat;)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void RankWatch::done(const std::string& note) {
  try {
    mGroup.set(key("done", mGroup.rank()), note);
  } catch (const std::exception& e) {
    throw UserError(lostMessage(e));
  }
}

void RankWatch::failed(const std::string& message) {
  try {
    mGroup.set(key("failed", mGroup.rank()), message);
  } catch (const std::exception&) {
    // The store is gone too; this rank's own message still reaches its terminal.
  }
}

std::vector<std::string> RankWatch::awaitEveryRank(
    const std::function<std::string(int)>& describeWork) {
  const int ranks = mGroup.size();
  std::vector<std::string> notes(static_cast<size_t>(ranks));
  std::vector<int64_t> beats(static_cast<size_t>(ranks), -1);
  std::vector<Clock::time_point> heard(static_cast<size_t>(ranks), Clock::now());
  for (;;) {
    if (mUserCancel.cancelled()) throw Cancelled();
    bool all = true;
    for (int r = 0; r < ranks; ++r) {
      const size_t i = static_cast<size_t>(r);
      if (auto message = mGroup.read(key("failed", r)))
        throw UserError("rank " + std::to_string(r) + " failed (" + describeWork(r) + "): " +
                        *message);
      if (auto note = mGroup.read(key("done", r))) {
        notes[i] = *note;
        continue;
      }
      all = false;
      int64_t count = mGroup.add(key("alive", r), 0);
      if (count != beats[i]) {
        beats[i] = count;
        heard[i] = Clock::now();
      } else if (Clock::now() - heard[i] > mSilence) {
        throw UserError("rank " + std::to_string(r) + " (" + describeWork(r) +
                        ") stopped answering for " + seconds(mSilence) + " s: it died or its "
                        "node was lost. Rerun the same command on every rank: finished shards "
                        "are kept.");
      }
    }
    if (all) return notes;
    std::this_thread::sleep_for(kPoll);
  }
}

void RankWatch::finish(const std::string& outcome) {
  mGroup.set(mStep + "/outcome", outcome.empty() ? "ok" : kFailed + outcome);
  auto limit = outcome.empty()
                   ? mSilence
                   : std::min<std::chrono::milliseconds>(mSilence, std::chrono::seconds(5));
  auto start = Clock::now();
  while (mGroup.add(mStep + "/read", 0) < mGroup.size() - 1 && Clock::now() - start < limit)
    std::this_thread::sleep_for(kPoll);
}

void RankWatch::awaitOutcome() {
  std::optional<std::string> outcome;
  try {
    while (!(outcome = mGroup.read(mStep + "/outcome"))) {
      if (mUserCancel.cancelled()) throw Cancelled();
      if (mToken.cancelled()) throw UserError(stopReason());  // the store was lost
      std::this_thread::sleep_for(kPoll);
    }
    mGroup.add(mStep + "/read", 1);
  } catch (const Cancelled&) {
    throw;
  } catch (const UserError&) {
    throw;
  } catch (const std::exception& e) {
    throw UserError(lostMessage(e));
  }
  if (*outcome != "ok") throw UserError(outcome->substr(kFailed.size()));
}

}  // namespace dx
