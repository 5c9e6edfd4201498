#include "distributed/launch.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "base/progress.h"

namespace dx {

namespace {

// A non-negative integer variable; -1 when unset, UserError when malformed.
long readCount(const std::function<const char*(const char*)>& lookup, const char* name) {
  const char* value = lookup(name);
  if (!value || !*value) return -1;
  char* end = nullptr;
  long n = std::strtol(value, &end, 10);
  if (*end != '\0' || n < 0)
    throw UserError(std::string(name) + "=" + value + " is not a non-negative integer; unset it "
                    "for a single-process run, or launch with torchrun or srun, which set it.");
  return n;
}

}  // namespace

std::string Launch::describe() const {
  return "rank " + std::to_string(rank) + " of " + std::to_string(worldSize);
}

Launch launchFromEnvironment(const std::function<const char*(const char*)>& lookup) {
  auto get = lookup ? lookup : [](const char* name) { return static_cast<const char*>(std::getenv(name)); };
  Launch launch;
  if (const char* single = get("DIRECTRIX_SINGLE_PROCESS"); single && std::string(single) == "1")
    return launch;
  long rank = readCount(get, "RANK"), world = readCount(get, "WORLD_SIZE");
  if (rank < 0 && world < 0) return launch;
  if (rank < 0 || world < 0)
    throw UserError(std::string(rank < 0 ? "WORLD_SIZE" : "RANK") + " is set but " +
                    (rank < 0 ? "RANK" : "WORLD_SIZE") + " is not: a multi-process run needs "
                    "both (torchrun sets them); unset it for a single-process run.");
  if (world < 1 || rank >= world)
    throw UserError("RANK=" + std::to_string(rank) + " with WORLD_SIZE=" + std::to_string(world) +
                    ": RANK must lie in [0, WORLD_SIZE).");
  launch.rank = int(rank);
  launch.worldSize = int(world);
  long local = readCount(get, "LOCAL_RANK");
  launch.localRank = local < 0 ? 0 : int(local);
  if (!launch.distributed()) return launch;
  const char* addr = get("MASTER_ADDR");
  long port = readCount(get, "MASTER_PORT");
  if (!addr || !*addr || port < 0)
    throw UserError(std::string(!addr || !*addr ? "MASTER_ADDR" : "MASTER_PORT") +
                    " is not set: with WORLD_SIZE > 1 every rank needs MASTER_ADDR and "
                    "MASTER_PORT (the host and a free port of rank 0).");
  if (port == 0 || port > 65535)
    throw UserError("MASTER_PORT=" + std::to_string(port) + " is not a port (1-65535).");
  launch.masterAddr = addr;
  launch.masterPort = int(port);
  const char* agentStore = get("TORCHELASTIC_USE_AGENT_STORE");
  launch.agentHostsStore = agentStore && std::string(agentStore) == "True";
  if (const char* restart = get("TORCHELASTIC_RESTART_COUNT"); restart && *restart)
    launch.restart = restart;
  return launch;
}

Share shareOf(size_t count, int rank, int worldSize) {
  size_t w = size_t(worldSize), r = size_t(rank);
  size_t base = count / w, extra = count % w;
  size_t begin = r * base + std::min(r, extra);
  return {begin, begin + base + (r < extra ? 1 : 0)};
}

Share shareOf(size_t count, int rank, int worldSize, size_t unit) {
  unit = std::max<size_t>(unit, 1);
  Share units = shareOf((count + unit - 1) / unit, rank, worldSize);
  return {std::min(units.begin * unit, count), std::min(units.end * unit, count)};
}

}  // namespace dx
