#include "distributed/process_group.h"

// ProcessGroupGloo.hpp declares the Gloo group only when the build has Gloo, which Debian's
// LibTorch has (libtorch_cpu exports c10d::ProcessGroupGloo).
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/torch.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <algorithm>
#include <cstdlib>

#include "base/progress.h"

namespace dx {

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;  // Directrix's keys, under their own prefix
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

namespace {

std::string where(const Launch& launch) {
  return launch.masterAddr + ":" + std::to_string(launch.masterPort);
}

// Collectives run on the CPU: Gloo takes host tensors, and what crosses is small.
at::Tensor hostCopy(const at::Tensor& t) { return t.to(torch::kCPU).contiguous(); }

// c10d reports a peer that went away as a Gloo or socket error; say what it means here.
[[noreturn]] void rethrowLost(const Launch& launch, const std::string& operation,
                              const std::exception& e) {
  throw UserError(launch.describe() + ": " + operation + " failed: another rank stopped or did "
                  "not answer in time (" + e.what() + "). Look at the other ranks' messages; "
                  "rerun the same command on every rank.");
}

}  // namespace

ProcessGroup::ProcessGroup(const Launch& launch, std::chrono::milliseconds timeout)
    : mLaunch(launch), mImpl(std::make_unique<Impl>()) {
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(launch.masterPort);
  // As PyTorch's env:// rendezvous: rank 0 hosts the store unless torchrun's agent does.
  options.isServer = launch.rank == 0 && !launch.agentHostsStore;
  options.numWorkers = launch.agentHostsStore ? c10::nullopt : c10::optional<std::size_t>(launch.worldSize);
  options.waitWorkers = !launch.agentHostsStore;
  options.multiTenant = true;
  options.timeout = timeout;
  try {
    auto tcp = c10::make_intrusive<c10d::TCPStore>(launch.masterAddr, options);
    mImpl->store = c10::make_intrusive<c10d::PrefixStore>("directrix/" + launch.restart, tcp);
    auto gloo = c10d::ProcessGroupGloo::Options::create(timeout);
    // GLOO_SOCKET_IFNAME picks the network interface, as in PyTorch; else the host's name.
    const char* interface = std::getenv("GLOO_SOCKET_IFNAME");
    gloo->devices.push_back(interface && *interface
                                ? c10d::ProcessGroupGloo::createDeviceForInterface(interface)
                                : c10d::ProcessGroupGloo::createDefaultDevice());
    mImpl->group = c10::make_intrusive<c10d::ProcessGroupGloo>(
        c10::make_intrusive<c10d::PrefixStore>("gloo", mImpl->store), launch.rank,
        launch.worldSize, gloo);
  } catch (const std::exception& e) {
    throw UserError(launch.describe() + ": could not join the job at " + where(launch) + " (" +
                    e.what() + "). Check that rank 0 runs, that MASTER_ADDR names its host, "
                    "that MASTER_PORT is free there, and that every rank was started.");
  }
}

ProcessGroup::~ProcessGroup() = default;

void ProcessGroup::allReduceSum(at::Tensor& t) { allReduce(t, int(c10d::ReduceOp::SUM)); }
void ProcessGroup::allReduceMax(at::Tensor& t) { allReduce(t, int(c10d::ReduceOp::MAX)); }

void ProcessGroup::allReduce(at::Tensor& t, int op) {
  std::vector<at::Tensor> buffers{hostCopy(t)};
  mPayloadBytes += int64_t(buffers[0].nbytes());
  ++mReductions;
  c10d::AllreduceOptions options;
  options.reduceOp = c10d::ReduceOp(static_cast<c10d::ReduceOp::RedOpType>(op));
  try {
    mImpl->group->allreduce(buffers, options)->wait();
  } catch (const std::exception& e) {
    rethrowLost(mLaunch, "a reduction over ranks", e);
  }
  t.copy_(buffers[0]);
}

at::Tensor ProcessGroup::allGather(const at::Tensor& local, const std::vector<int64_t>& counts) {
  TORCH_CHECK(int(counts.size()) == size() && local.size(0) == counts[size_t(rank())],
              "allGather: this rank's row count differs from the agreed counts");
  int64_t most = std::max<int64_t>(1, *std::max_element(counts.begin(), counts.end()));
  int64_t total = 0, before = 0;
  for (int r = 0; r < size(); ++r) total += counts[size_t(r)], before += r < rank() ? counts[size_t(r)] : 0;
  auto sizes = local.sizes().vec();
  if (total == 0) return local.clone();  // nothing to move (every rank agrees: same counts)
  if (int64_t(size()) * most > 2 * total) {
    // Rows held mostly by one rank (a leading block): padding every rank to the largest count
    // would move more than a sum of the rows placed among zeros (exact: x + 0 == x).
    sizes[0] = total;
    auto placed = torch::zeros(sizes, local.options().device(torch::kCPU));
    placed.narrow(0, before, local.size(0)).copy_(local);
    allReduceSum(placed);
    return placed.to(local.device());
  }
  sizes[0] = most;
  std::vector<at::Tensor> input{torch::zeros(sizes, local.options().device(torch::kCPU))};
  input[0].narrow(0, 0, local.size(0)).copy_(local);
  std::vector<std::vector<at::Tensor>> outputs(1);
  for (int r = 0; r < size(); ++r) outputs[0].push_back(torch::empty_like(input[0]));
  mPayloadBytes += int64_t(input[0].nbytes());
  ++mReductions;
  try {
    mImpl->group->allgather(outputs, input)->wait();
  } catch (const std::exception& e) {
    rethrowLost(mLaunch, "gathering rows from every rank", e);
  }
  std::vector<at::Tensor> rows;
  for (int r = 0; r < size(); ++r) rows.push_back(outputs[0][size_t(r)].narrow(0, 0, counts[size_t(r)]));
  return torch::cat(rows).to(local.device());
}

void ProcessGroup::barrier() {
  try {
    mImpl->group->barrier()->wait();
  } catch (const std::exception& e) {
    rethrowLost(mLaunch, "waiting for every rank", e);
  }
}

void ProcessGroup::set(const std::string& key, const std::string& value) {
  mImpl->store->set(key, std::vector<uint8_t>(value.begin(), value.end()));
  // TCPStore's set does not wait for the store's answer; a check on the same connection does,
  // and the store answers in order, so the value is visible to every rank once this returns.
  mImpl->store->check({key});
}

std::optional<std::string> ProcessGroup::read(const std::string& key) {
  if (!mImpl->store->check({key})) return std::nullopt;
  auto bytes = mImpl->store->get(key);
  return std::string(bytes.begin(), bytes.end());
}

int64_t ProcessGroup::add(const std::string& key, int64_t delta) {
  return mImpl->store->add(key, delta);
}

}  // namespace dx
