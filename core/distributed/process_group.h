#pragma once
// One multi-process job over LibTorch's c10d: a TCPStore hosted by rank 0 at MASTER_ADDR:
// MASTER_PORT (the rendezvous torchrun's env:// uses) and a Gloo process group for the
// collectives. Nothing here invents a protocol: statuses are store keys, sums are Gloo
// all-reduces. The c10d headers stay inside process_group.cpp.
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <ATen/core/Tensor.h>

#include "discovery/reduction.h"
#include "distributed/launch.h"

namespace dx {

class ProcessGroup {
 public:
  // Joins the job; every rank must arrive within `timeout` (the message names the address).
  // `timeout` also bounds each collective: a rank that stops answering fails the others.
  ProcessGroup(const Launch& launch, std::chrono::milliseconds timeout);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  const Launch& launch() const { return mLaunch; }
  int rank() const { return mLaunch.rank; }
  int size() const { return mLaunch.worldSize; }

  // Sums `t` over the ranks, in place on every rank. Any device: the sum travels as a CPU copy
  // (statistics and gradients, not data, cross the network). Float32, float64 or int64.
  void allReduceSum(at::Tensor& t);
  void allReduceMax(at::Tensor& t);
  // Every rank's rows in rank order (Reduction::allGather): rank k passes counts[k] rows. Gloo
  // gathers equal shapes, so each rank's rows travel padded to the largest count; when that would
  // move more than a sum of the rows placed among zeros (one rank holds most), it is that sum.
  at::Tensor allGather(const at::Tensor& local, const std::vector<int64_t>& counts);
  void barrier();
  // Bytes of tensors this rank has passed to collectives (the payload; a ring all-reduce sends
  // about 2 (W - 1) / W times it per rank).
  int64_t payloadBytes() const { return mPayloadBytes; }
  int64_t reductions() const { return mReductions; }  // collectives so far

  // The job's key-value store, for statuses (set returns once the store holds the value; read
  // returns nullopt when the key is not set yet).
  void set(const std::string& key, const std::string& value);
  std::optional<std::string> read(const std::string& key);
  int64_t add(const std::string& key, int64_t delta);

 private:
  struct Impl;
  Launch mLaunch;
  void allReduce(at::Tensor& t, int op);
  std::unique_ptr<Impl> mImpl;
  int64_t mPayloadBytes = 0, mReductions = 0;
};

// The sums of a data-parallel fit (discovery/reduction.h), over this job's ranks.
class GroupReduction : public Reduction {
 public:
  explicit GroupReduction(ProcessGroup& group) : mGroup(&group) {}
  void sum(at::Tensor& t) const override { mGroup->allReduceSum(t); }
  void max(at::Tensor& t) const override { mGroup->allReduceMax(t); }
  at::Tensor allGather(const at::Tensor& local, const std::vector<int64_t>& counts) const override {
    return mGroup->allGather(local, counts);
  }
  int part() const override { return mGroup->rank(); }
  int parts() const override { return mGroup->size(); }

 private:
  ProcessGroup* mGroup;
};

}  // namespace dx
