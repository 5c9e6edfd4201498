#pragma once
// A command launched like a PyTorch job (torchrun, srun): every rank runs the same command line
// with RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT and LOCAL_RANK set. Without them: one process.
#include <chrono>
#include <memory>

#include "distributed/launch.h"
#include "distributed/process_group.h"

namespace dx::cli {

class Arguments;

struct Job {
  Launch launch;
  std::unique_ptr<ProcessGroup> group;  // null for a single process
  std::chrono::milliseconds silence{0};  // --rank-timeout: how long a rank may stay silent
  bool leader() const { return launch.rank == 0; }
};

// Joins the job described by the environment (reads --rank-timeout, default 300 s).
Job joinJob(const Arguments& a);

}  // namespace dx::cli
