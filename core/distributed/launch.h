#pragma once
// Where this process stands in a multi-process job, read from the variables torchrun and SLURM
// wrappers set (PyTorch's "env://" rendezvous): RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT and
// LOCAL_RANK. With none of them set, a run is one process, as always. See docs/architecture.md
// "Several processes".
#include <functional>
#include <string>

namespace dx {

struct Launch {
  int rank = 0, worldSize = 1, localRank = 0;
  std::string masterAddr;  // host of the rendezvous store (rank 0, or torchrun's agent)
  int masterPort = 0;
  // torchrun's agent already hosts the store at MASTER_ADDR:MASTER_PORT
  // (TORCHELASTIC_USE_AGENT_STORE=True): every rank is then a client, rank 0 included.
  bool agentHostsStore = false;
  std::string restart = "0";  // TORCHELASTIC_RESTART_COUNT: keys of a restarted job are its own
  bool distributed() const { return worldSize > 1; }
  // "rank 1 of 3" (for messages).
  std::string describe() const;
};

// Reads the launch variables through `lookup` (the process environment by default; tests pass
// their own). DIRECTRIX_SINGLE_PROCESS=1 ignores them (a command started from inside another
// job's rank inherits its variables). Throws UserError naming the variable when one is set but the set is incomplete or
// malformed (RANK without WORLD_SIZE, RANK >= WORLD_SIZE, a port out of range).
Launch launchFromEnvironment(
    const std::function<const char*(const char*)>& lookup = nullptr);

// The contiguous share of `count` items that `rank` of `worldSize` takes: ranks take equal shares
// (the first `count % worldSize` one more), in rank order, so concatenating the shares in rank
// order gives the items in order.
struct Share {
  size_t begin = 0, end = 0;
  size_t size() const { return end - begin; }
};
Share shareOf(size_t count, int rank, int worldSize);
// The same over whole units of `unit` items (the last one may be short): a rank's share begins at
// a multiple of `unit` (data-parallel fits share out whole fold blocks; Patches::foldImages).
Share shareOf(size_t count, int rank, int worldSize, size_t unit);

}  // namespace dx
