// Several processes (docs/architecture.md "Several processes"): the launch variables, the shares,
// the merge of extraction shards (byte-identical to one process), data-parallel fits equal to the
// single-process fit, and c10d sums between two ranks on loopback.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <fstream>
#include <future>
#include <map>
#include <sstream>

#include <opencv2/imgcodecs.hpp>

#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "activations/activation_cache.h"
#include "activations/cache_merge.h"
#include "activations/sharded_extraction.h"
#include "data/demo.h"
#include "data/image_folder.h"
#include "discovery/concept_method.h"
#include "discovery/eddp_starts.h"
#include "discovery/patches.h"
#include "distributed/launch.h"
#include "distributed/process_group.h"
#include "basis_difference.h"
#include "fit_in_parts.h"
#include "temp_dir.h"
#include "test_models.h"
#include "thread_reduction.h"

using dx::test::TempDir;
using dx::test::largestDifference;
namespace fs = std::filesystem;

namespace {

dx::Launch launchWith(const std::map<std::string, std::string>& vars) {
  return dx::launchFromEnvironment([&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

std::string errorOf(const std::map<std::string, std::string>& vars) {
  try {
    launchWith(vars);
  } catch (const dx::UserError& e) {
    return e.what();
  }
  return "";
}

std::string bytesOf(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

int freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t n = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  ::close(fd);
  return ntohs(a.sin_port);
}

// `images` images of 10 channels on 3 x 3 positions, clustered around 4 directions.
at::Tensor clusteredActivations(int64_t images = 90) {
  auto gen = at::detail::createCPUGenerator(11);
  auto centres = 3 * torch::rand({4, 10}, gen);
  auto which = torch::randint(4, {images * 9}, gen);
  auto noise = 0.3 * torch::randn({images * 9, 10}, gen);
  auto patches = torch::relu(centres.index_select(0, which) + noise);
  return patches.view({images, 3, 3, 10}).permute({0, 3, 1, 2}).contiguous();
}

}  // namespace

TEST(Launch, ReadsTheTorchrunVariablesAndNamesWhatIsMissing) {
  EXPECT_FALSE(launchWith({}).distributed());
  auto l = launchWith({{"RANK", "2"}, {"WORLD_SIZE", "3"}, {"LOCAL_RANK", "1"},
                       {"MASTER_ADDR", "node0"}, {"MASTER_PORT", "29500"}});
  EXPECT_TRUE(l.distributed());
  EXPECT_EQ(l.rank, 2);
  EXPECT_EQ(l.worldSize, 3);
  EXPECT_EQ(l.localRank, 1);
  EXPECT_EQ(l.masterAddr, "node0");
  EXPECT_EQ(l.masterPort, 29500);
  EXPECT_FALSE(launchWith({{"RANK", "0"}, {"WORLD_SIZE", "1"}}).distributed());
  EXPECT_FALSE(launchWith({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"DIRECTRIX_SINGLE_PROCESS", "1"}})
                   .distributed());
  EXPECT_TRUE(launchWith({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"},
                          {"MASTER_PORT", "1"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"}})
                  .agentHostsStore);
  EXPECT_NE(errorOf({{"RANK", "0"}}).find("WORLD_SIZE"), std::string::npos);
  EXPECT_NE(errorOf({{"RANK", "3"}, {"WORLD_SIZE", "3"}}).find("[0, WORLD_SIZE)"), std::string::npos);
  EXPECT_NE(errorOf({{"RANK", "x"}, {"WORLD_SIZE", "2"}}).find("RANK=x"), std::string::npos);
  EXPECT_NE(errorOf({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "1"}}).find("MASTER_ADDR"),
            std::string::npos);
  EXPECT_NE(errorOf({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}}).find("MASTER_PORT"),
            std::string::npos);
  EXPECT_NE(errorOf({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"},
                     {"MASTER_PORT", "70000"}}).find("not a port"), std::string::npos);
}

TEST(Launch, SharesCoverEveryItemInOrderAndShardsCutAtBatches) {
  for (size_t count : {0, 1, 7, 100, 101})
    for (int world : {1, 2, 3, 5}) {
      size_t next = 0, nextShard = 0;
      for (int r = 0; r < world; ++r) {
        auto s = dx::shareOf(count, r, world);
        EXPECT_EQ(s.begin, next);
        EXPECT_LE(s.size(), count / size_t(world) + 1);
        next = s.end;
        auto shard = dx::extractionShard(count, 8, r, world);  // whole batches of 8
        EXPECT_EQ(shard.begin, nextShard);
        EXPECT_TRUE(shard.begin % 8 == 0 || shard.begin == count);
        EXPECT_TRUE(shard.end % 8 == 0 || shard.end == count);
        nextShard = shard.end;
      }
      EXPECT_EQ(next, count);
      EXPECT_EQ(nextShard, count);
    }
  for (size_t count : {1, 7, 100, 101})  // whole units of 8 (data-parallel fits' fold blocks)
    for (int world : {1, 2, 3}) {
      size_t next = 0;
      for (int r = 0; r < world; ++r) {
        auto s = dx::shareOf(count, r, world, 8);
        EXPECT_EQ(s.begin, next);
        EXPECT_TRUE(s.begin % 8 == 0 || s.begin == count);
        next = s.end;
      }
      EXPECT_EQ(next, count);
    }
  auto last = dx::extractionShard(1000, 64, 2, 3);  // 16 batches: 6, 5, 5
  EXPECT_EQ(last.begin, 704u);
  EXPECT_EQ(last.end, 1000u);
}

TEST(CacheMerge, ShardsMergeIntoTheSingleProcessBytes) {
  TempDir d;
  dx::ExtractionRequest r;
  r.model = dx::ConceptModel::load(dx::demoModelPath());
  r.source = dx::demoImages();
  r.limit = 300;
  r.batchSize = 32;
  r.outDir = d / "single";
  auto whole = dx::extractActivations(r);
  dx::CacheMergeRequest merge;
  for (int rank = 0; rank < 3; ++rank) {
    auto s = dx::extractionShard(300, 32, rank, 3);
    dx::ExtractionRequest shard = r;
    shard.first = s.begin;
    shard.count = s.size();
    shard.outDir = d / ("shard" + std::to_string(rank));
    EXPECT_NE(dx::extractActivations(shard).key, whole.key);  // a shard has its own key
    merge.shardDirs.push_back(shard.outDir);
  }
  merge.outDir = d / "merged";
  merge.key = whole.key;
  merge.listedImages = 300;
  dx::mergeCacheShards(merge);
  for (auto name : {"activations.npy", "logits.npy", "predictions.npy", "labels.npy", "files.txt",
                    "skipped.tsv", "classes.txt", "label_classes.txt"})
    EXPECT_EQ(bytesOf(d.path() / "merged" / name), bytesOf(d.path() / "single" / name)) << name;
  EXPECT_TRUE(dx::cacheIsComplete(d / "merged", whole.key));
  // Shards of another extraction do not merge.
  dx::ExtractionRequest other = r;
  other.layer = r.model->meta().layers.front().name;
  other.outDir = d / "other";
  other.limit = 40;
  dx::extractActivations(other);
  merge.shardDirs = {d / "shard0", d / "other"};
  merge.outDir = d / "refused";
  try {
    dx::mergeCacheShards(merge);
    ADD_FAILURE() << "shards of two extractions were merged";
  } catch (const dx::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("other settings"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(d / "refused"));
}

// Four readable images, then four corrupt files: with batches of 4 over 2 ranks, rank 1's shard
// holds no usable image. It is written empty and the merge equals one process, which skips the
// corrupt files; with no usable image anywhere the merge fails as one process does.
TEST(CacheMerge, AShardWithNoUsableImageMergesLikeOneProcess) {
  TempDir d;
  fs::create_directories(d.path() / "images" / "a");
  fs::create_directories(d.path() / "images" / "b");
  cv::Mat img(24, 24, CV_8UC3);
  for (int i = 0; i < 4; ++i) {
    cv::randu(img, 0, 255);
    cv::imwrite(d / ("images/a/img" + std::to_string(i) + ".png"), img);
    std::ofstream(d / ("images/b/bad" + std::to_string(i) + ".png"), std::ios::binary)
        << "\x89PNG\r\n\x1a\n broken";
  }
  auto extractInShards = [&](const fs::path& images, const std::string& name) {
    dx::ExtractionRequest r;
    r.model = dx::ConceptModel::load(dx::test::testModel("good_rgb.pt"));
    r.source = std::make_shared<dx::ImageFolder>(images);
    r.layer = "conv1";
    r.batchSize = 4;
    dx::CacheMergeRequest merge;
    for (int rank = 0; rank < 2; ++rank) {
      auto s = dx::extractionShard(r.source->size(), 4, rank, 2);
      if (s.size() == 0) continue;  // an empty share writes nothing (sharded_extraction.cpp)
      dx::ExtractionRequest shard = r;
      shard.first = s.begin;
      shard.count = s.size();
      shard.outDir = d / (name + "-shard" + std::to_string(rank));
      dx::extractActivations(shard);
      merge.shardDirs.push_back(shard.outDir);
    }
    merge.outDir = d / (name + "-merged");
    r.outDir = d / (name + "-single");
    merge.listedImages = r.source->size();
    merge.source = r.source->description();
    return std::make_pair(r, merge);
  };
  auto [r, merge] = extractInShards(d.path() / "images", "mixed");
  EXPECT_EQ(dx::ActivationCache(merge.shardDirs[1]).size(), 0u);
  dx::ExtractionRequest rerun = r;  // the empty shard is complete: a rerun keeps it
  auto s1 = dx::extractionShard(8, 4, 1, 2);
  rerun.first = s1.begin;
  rerun.count = s1.size();
  rerun.outDir = merge.shardDirs[1];
  auto again = dx::extractActivations(rerun);
  EXPECT_TRUE(again.reused);
  EXPECT_EQ(again.images, 0u);
  merge.key = dx::extractActivations(r).key;
  dx::mergeCacheShards(merge);
  for (auto name : {"activations.npy", "logits.npy", "predictions.npy", "labels.npy", "files.txt",
                    "skipped.tsv"})
    EXPECT_EQ(bytesOf(d.path() / "mixed-merged" / name), bytesOf(d.path() / "mixed-single" / name))
        << name;
  auto [none, nothing] = extractInShards(d.path() / "images" / "b", "bad");
  try {
    dx::mergeCacheShards(nothing);
    ADD_FAILURE() << "a cache without images was merged";
  } catch (const dx::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("none of the 4 images"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(d / "bad-merged"));
}

// Each thread fits its share of the images with every statistic summed over the parts. One part
// is the single-process arithmetic (the channel mean is an exact sum either way); three parts
// sum the other statistics in another order, so the fits agree within
// rounding: 1e-4 for PCA and k-means; the SAE's thousands of Adam steps turn that rounding into
// up to a step apart, so 2e-2 there (it also differs by 6e-3 between streamed and kept fits).
// NMF sums its products exactly per fold block (nmf.cpp, FitSample): the one-process bits on any
// number of parts, streamed as kept (before, its stopping rule ended up to a sweep apart: 7e-3).
TEST(DataParallelFit, SharesSummedOverProcessesGiveTheSingleProcessFit) {
  auto z = clusteredActivations();
  for (bool streamed : {false, true})
    for (const char* name : {"pca", "kmeans", "spherical-kmeans", "nmf", "sae"}) {
      auto method = dx::makeConceptMethod(name);
      ASSERT_TRUE(method->dataParallel()) << name;
      dx::FitOptions o;
      o.concepts = 4;
      o.seed = 5;
      if (streamed) {
        o.keepPatchesBytes = 0;
        o.patchBlockRows = 100;  // blocks cut through images
      }
      auto single = method->fit(z, o);
      for (int count : {1, 3}) {
        std::string kind = std::string(name);
        double tolerance = kind == "nmf"   ? 0.0
                           : count == 1     ? (kind == "sae" ? 2e-3 : 1e-5)
                           : kind == "sae" ? 2e-2
                                           : 1e-4;
        for (const auto& basis : dx::test::fitInParts(*method, z, o, count))
          EXPECT_LE(largestDifference(basis, single), tolerance)
              << name << ", " << count << " parts" << (streamed ? ", streamed" : "");
      }
    }
}

// Beyond 131,072 patches NMF fits a seeded sample of them, which the parts share out by fold
// block: still the one-process bits, on 2 and 3 parts.
TEST(DataParallelFit, NmfOnASampleGivesTheSingleProcessBits) {
  auto z = clusteredActivations(15000);  // 135,000 patches
  auto method = dx::makeConceptMethod("nmf");
  dx::FitOptions o;
  o.concepts = 4;
  o.seed = 2;
  auto single = method->fit(z, o);
  for (int count : {2, 3})
    for (const auto& basis : dx::test::fitInParts(*method, z, o, count))
      EXPECT_EQ(largestDifference(basis, single), 0.0) << count << " parts";
}

// At wide layers a fold block's C x C covariance product is too large to keep, so EDDP's
// whitening sums the products in one pass on a grid from Cauchy-Schwarz bounds (eddp_starts.cpp):
// the dense double-precision covariance's whitening, and the same bits on 3 parts.
TEST(DataParallelFit, WideWhiteningSumsOncePerBlockAndGivesTheSameBitsInParts) {
  auto gen = at::detail::createCPUGenerator(4);
  const int64_t images = 1000, channels = 730;
  auto scales = 0.5 + torch::rand({1, channels, 1, 1}, gen);
  auto z = (torch::randn({images, channels, 1, 1}, gen) * scales + 1).contiguous();
  dx::Patches all(z, int64_t(1) << 40);
  ASSERT_GT(channels * channels * 8 * all.foldBlocks(), int64_t(256) << 20) << "not the wide case";
  auto single = dx::eddp::pcaWhitening(all);
  auto dense = dx::eddp::pcaWhitening(dx::patchesOf(z));
  auto precision = [](const at::Tensor& w) { return w.matmul(w.t()); };  // free of signs
  auto p = precision(single), q = precision(dense);
  EXPECT_LT(((p - q).abs().max() / q.abs().max()).item<double>(), 1e-5);
  dx::test::ThreadReductionHub hub(3);
  std::vector<std::future<at::Tensor>> parts;
  for (int part = 0; part < 3; ++part)
    parts.push_back(std::async(std::launch::async, [&, part] {
      auto share = dx::shareOf(size_t(images), part, 3, size_t(all.foldImages()));
      const auto first = int64_t(share.begin);
      dx::Patches mine(z.narrow(0, first, int64_t(share.size())), int64_t(1) << 40);
      mine.share(std::make_shared<dx::test::ThreadReduction>(hub, part), first, images);
      return dx::eddp::pcaWhitening(mine);
    }));
  for (auto& part : parts) EXPECT_TRUE(torch::equal(part.get(), single));
}

// Fewer distinct patches than clusters: k-means++ repeats seeds, Lloyd leaves clusters empty and
// moves them to the worst-fitting patches over every process. Here every patch fits exactly, so
// the worst are a tie, broken by the lowest index whatever the shares (before that rule, three
// parties reseeded on other points than one process and ended 1.8 apart).
TEST(DataParallelFit, EmptyClustersAreReseededAlikeOnEveryProcess) {
  auto gen = at::detail::createCPUGenerator(3);
  auto points = torch::tensor({{0.f, 0.f, 1.f}, {4.f, 0.f, 0.f}, {0.f, 9.f, 0.f}});
  auto which = torch::randint(3, {60 * 4}, gen);
  auto z = points.index_select(0, which).view({60, 2, 2, 3}).permute({0, 3, 1, 2}).contiguous();
  auto method = dx::makeConceptMethod("kmeans");
  dx::FitOptions o;
  o.concepts = 6;
  auto single = method->fit(z, o);
  for (const auto& basis : dx::test::fitInParts(*method, z, o, 3))
    EXPECT_LT(largestDifference(basis, single), 1e-4);
}

namespace {

dx::Launch loopbackLaunch(int rank, int worldSize, int port) {
  dx::Launch l;
  l.rank = rank;
  l.worldSize = worldSize;
  l.masterAddr = "127.0.0.1";
  l.masterPort = port;
  return l;
}

}  // namespace

TEST(ProcessGroup, TwoRanksOnLoopbackSumMaxGatherAndCountTheirPayload) {
  int port = freePort();
  auto rank = [port](int r) {
    dx::ProcessGroup group(loopbackLaunch(r, 2, port), std::chrono::seconds(30));
    at::Tensor t = torch::full({3}, double(r + 1), torch::kDouble);
    group.allReduceSum(t);
    at::Tensor m = torch::tensor({float(r), float(-r)});
    group.allReduceMax(m);
    // Rank 0 holds 3 rows, rank 1 one: every rank gets all 4 in rank order.
    at::Tensor rows = r == 0 ? torch::arange(6, torch::kFloat).view({3, 2}) : torch::full({1, 2}, 9.0f);
    at::Tensor gathered = group.allGather(rows, {3, 1});
    group.set("note/" + std::to_string(r), "hello");
    group.barrier();
    auto note = group.read("note/" + std::to_string(1 - r));
    group.barrier();
    return std::make_tuple(t, m, gathered, note.value_or(""), group.payloadBytes());
  };
  auto other = std::async(std::launch::async, rank, 1);
  auto [t0, m0, g0, note0, bytes0] = rank(0);
  auto [t1, m1, g1, note1, bytes1] = other.get();
  EXPECT_TRUE(torch::equal(t0, torch::full({3}, 3.0, torch::kDouble)));
  EXPECT_TRUE(torch::equal(t1, t0));
  EXPECT_TRUE(torch::equal(m0, torch::tensor({1.0f, 0.0f})));
  EXPECT_EQ(note0, "hello");
  EXPECT_EQ(note1, "hello");
  auto expected = torch::tensor({0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 9.0f, 9.0f}).view({4, 2});
  EXPECT_TRUE(torch::equal(g0, expected));
  EXPECT_TRUE(torch::equal(g1, expected));
  // The sums' bytes, then the gather's: each rank's rows padded to the larger count (3 x 2).
  EXPECT_EQ(bytes0, 3 * 8 + 2 * 4 + 3 * 2 * 4);
  EXPECT_EQ(bytes1, bytes0);
}

// Rows held mostly by one rank travel as a sum of rows placed among zeros (less than padding
// every rank to the largest count); the result is the same rows in rank order.
TEST(ProcessGroup, ThreeRanksGatherRowsThatOneRankMostlyHolds) {
  int port = freePort();
  const std::vector<int64_t> counts{5, 0, 1};
  auto rank = [port, &counts](int r) {
    dx::ProcessGroup group(loopbackLaunch(r, 3, port), std::chrono::seconds(30));
    at::Tensor rows = r == 0   ? torch::arange(10, torch::kDouble).view({5, 2})
                      : r == 2 ? torch::full({1, 2}, -1.0, torch::kDouble)
                               : torch::zeros({0, 2}, torch::kDouble);
    auto gathered = group.allGather(rows, counts);
    return std::make_pair(gathered, group.payloadBytes());
  };
  auto one = std::async(std::launch::async, rank, 1);
  auto two = std::async(std::launch::async, rank, 2);
  auto [g0, bytes0] = rank(0);
  auto expected = torch::cat({torch::arange(10, torch::kDouble).view({5, 2}),
                              torch::full({1, 2}, -1.0, torch::kDouble)});
  EXPECT_TRUE(torch::equal(g0, expected));
  EXPECT_TRUE(torch::equal(one.get().first, expected));
  EXPECT_TRUE(torch::equal(two.get().first, expected));
  EXPECT_EQ(bytes0, 6 * 2 * 8);  // the 6 rows placed among zeros, not the padded 5 rows each
}
