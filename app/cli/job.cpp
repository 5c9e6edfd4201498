#include "job.h"

#include "arguments.h"
#include "base/progress.h"

namespace dx::cli {

Job joinJob(const Arguments& a) {
  Job job;
  job.launch = launchFromEnvironment();
  job.silence = std::chrono::seconds(a.count("rank-timeout", 300));
  if (job.silence.count() <= 0)
    throw UserError("--rank-timeout must be at least 1 second.");
  if (job.launch.distributed())
    job.group = std::make_unique<ProcessGroup>(job.launch, job.silence);
  return job;
}

}  // namespace dx::cli
