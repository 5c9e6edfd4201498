#include "distributed/rank_watch.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <vector>

namespace dx {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kBeat = std::chrono::milliseconds(250);
constexpr auto kPoll = std::chrono::milliseconds(50);

std::string seconds(std::chrono::milliseconds d) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", double(d.count()) / 1000.0);
  return text;
}

}  // namespace

RankWatch::RankWatch(ProcessGroup& group, std::string step, std::chrono::milliseconds silence)
    : mGroup(group), mStep(std::move(step)), mSilence(silence) {
  mHeartbeat = std::thread([this] { beat(); });
}

RankWatch::~RankWatch() {
  mStop = true;
  mHeartbeat.join();
}

std::string RankWatch::key(const std::string& what, int rank) const {
  return mStep + "/" + what + "/" + std::to_string(rank);
}

void RankWatch::beat() {
  while (!mStop) {
    try {
      mGroup.add(key("alive", mGroup.rank()), 1);
    } catch (const std::exception&) {
      return;  // the store is gone (rank 0 ended); the main thread reports it
    }
    for (auto t = Clock::now(); !mStop && Clock::now() - t < kBeat;)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void RankWatch::done(const std::string& note) { mGroup.set(key("done", mGroup.rank()), note); }

void RankWatch::failed(const std::string& message) {
  try {
    mGroup.set(key("failed", mGroup.rank()), message);
  } catch (const std::exception&) {
    // The store is gone too; this rank's own message still reaches its terminal.
  }
}

std::vector<std::string> RankWatch::awaitEveryRank(
    const std::function<std::string(int)>& describeWork, const CancelToken& cancel) {
  const int ranks = mGroup.size();
  std::vector<std::string> notes(static_cast<size_t>(ranks));
  std::vector<int64_t> beats(size_t(ranks), -1);
  std::vector<Clock::time_point> heard(size_t(ranks), Clock::now());
  for (;;) {
    if (cancel.cancelled()) throw Cancelled();
    bool all = true;
    for (int r = 0; r < ranks; ++r) {
      if (auto message = mGroup.read(key("failed", r)))
        throw UserError("rank " + std::to_string(r) + " failed (" + describeWork(r) + "): " +
                        *message);
      if (auto note = mGroup.read(key("done", r))) {
        notes[size_t(r)] = *note;
        continue;
      }
      all = false;
      int64_t count = mGroup.add(key("alive", r), 0);
      if (count != beats[size_t(r)]) {
        beats[size_t(r)] = count;
        heard[size_t(r)] = Clock::now();
      } else if (Clock::now() - heard[size_t(r)] > mSilence) {
        throw UserError("rank " + std::to_string(r) + " (" + describeWork(r) +
                        ") stopped answering for " + seconds(mSilence) + " s: it died or hangs. "
                        "Rerun the same command on every rank: finished shards are kept.");
      }
    }
    if (all) return notes;
    std::this_thread::sleep_for(kPoll);
  }
}

void RankWatch::finish(const std::string& outcome) {
  mGroup.set(mStep + "/outcome", outcome.empty() ? "ok" : "failed: " + outcome);
  // After a failure some ranks may be gone: wait less for their acknowledgements.
  auto limit = outcome.empty() ? mSilence : std::min<std::chrono::milliseconds>(mSilence, std::chrono::seconds(5));
  auto start = Clock::now();
  while (mGroup.add(mStep + "/read", 0) < mGroup.size() - 1 && Clock::now() - start < limit)
    std::this_thread::sleep_for(kPoll);
}

void RankWatch::awaitOutcome(const CancelToken& cancel) {
  std::optional<std::string> outcome;
  try {
    while (!(outcome = mGroup.read(mStep + "/outcome"))) {
      if (cancel.cancelled()) throw Cancelled();
      std::this_thread::sleep_for(kPoll);
    }
    mGroup.add(mStep + "/read", 1);
  } catch (const Cancelled&) {
    throw;
  } catch (const std::exception& e) {
    throw UserError(mGroup.launch().describe() + ": lost rank 0 (the job's store at " +
                    mGroup.launch().masterAddr + ":" + std::to_string(mGroup.launch().masterPort) +
                    ": " + e.what() + "); rank 0 died or ended. See its messages.");
  }
  if (*outcome != "ok") throw UserError(outcome->substr(std::string("failed: ").size()));
}

}  // namespace dx
