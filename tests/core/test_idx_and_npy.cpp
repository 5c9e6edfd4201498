#include <gtest/gtest.h>

#include <fstream>

#include <zlib.h>

#include "base/idx_file.h"
#include "base/npy.h"
#include "base/progress.h"
#include "temp_dir.h"

using dx::test::TempDir;

namespace {

std::vector<uint8_t> idxBytes() {
  // magic 0x00000803: unsigned bytes, 3 dims; 2 x 2 x 3 values 0..11
  std::vector<uint8_t> b{0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3};
  for (uint8_t i = 0; i < 12; ++i) b.push_back(i);
  return b;
}

}  // namespace

TEST(Idx, ParsesShapeAndData) {
  auto a = dx::parseIdx(idxBytes(), "x.idx");
  EXPECT_EQ(a.shape, (std::vector<uint32_t>{2, 2, 3}));
  EXPECT_EQ(a.data.back(), 11);
}

TEST(Idx, RejectsCorruptHeadersAndTruncation) {
  auto bytes = idxBytes();
  bytes.pop_back();
  EXPECT_THROW(dx::parseIdx(bytes, "x.idx"), dx::UserError);
  auto badMagic = idxBytes();
  badMagic[0] = 7;
  EXPECT_THROW(dx::parseIdx(badMagic, "x.idx"), dx::UserError);
  auto floats = idxBytes();
  floats[2] = 0x0D;
  EXPECT_THROW(dx::parseIdx(floats, "x.idx"), dx::UserError);
}

TEST(Idx, ReadsGzippedAndRawFiles) {
  TempDir dir;
  auto bytes = idxBytes();
  std::ofstream(dir / "raw.idx", std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), long(bytes.size()));
  gzFile gz = gzopen((dir / "z.idx.gz").c_str(), "wb");
  gzwrite(gz, bytes.data(), unsigned(bytes.size()));
  gzclose(gz);
  EXPECT_EQ(dx::readIdx(dir / "raw.idx").data, dx::readIdx(dir / "z.idx.gz").data);
  EXPECT_THROW(dx::readIdx(dir / "missing.gz"), dx::UserError);
}

TEST(Npy, HeaderIsWhatNumpyWrites) {
  TempDir dir;
  float v[6] = {1, 2, 3, 4, 5, 6};
  dx::writeNpy(dir / "a.npy", dx::npy::float32, {2, 3}, v);
  std::ifstream in(dir / "a.npy", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(all.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  size_t headerLen = uint8_t(all[8]) | (uint8_t(all[9]) << 8);
  EXPECT_EQ((10 + headerLen) % 64, 0u);  // numpy aligns data to 64 bytes
  EXPECT_NE(all.find("'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"),
            std::string::npos);
  EXPECT_EQ(all.size(), 10 + headerLen + sizeof v);
}

TEST(Npy, StreamedRowsRoundTripAndShrinkOnFinish) {
  TempDir dir;
  {
    dx::NpyWriter w(dir / "s.npy", dx::npy::int64, {10, 2});
    int64_t rows[6] = {1, 2, 3, 4, 5, 6};
    w.writeRows(0, 2, rows);
    w.writeRows(2, 1, rows + 4);
    w.finish(3);  // capacity 10, 3 rows used
  }
  dx::NpyMap m(dir / "s.npy");
  EXPECT_EQ(m.shape(), (std::vector<size_t>{3, 2}));
  EXPECT_EQ(reinterpret_cast<const int64_t*>(m.row(2))[1], 6);
  std::vector<size_t> shape;
  EXPECT_THROW(dx::readNpyFloat32(dir / "s.npy", &shape), dx::UserError);  // wrong dtype named
}

TEST(Npy, OneDimensionalShapeHasTrailingComma) {
  TempDir dir;
  float v[3] = {1, 2, 3};
  dx::writeNpy(dir / "v.npy", dx::npy::float32, {3}, v);
  std::vector<size_t> shape;
  auto back = dx::readNpyFloat32(dir / "v.npy", &shape);
  EXPECT_EQ(shape, std::vector<size_t>{3});
  EXPECT_EQ(back, (std::vector<float>{1, 2, 3}));
}

TEST(Npy, TruncatedFileIsRefused) {
  TempDir dir;
  float v[4] = {1, 2, 3, 4};
  dx::writeNpy(dir / "t.npy", dx::npy::float32, {4}, v);
  std::filesystem::resize_file(dir / "t.npy", std::filesystem::file_size(dir / "t.npy") - 4);
  EXPECT_THROW(dx::NpyMap(dir / "t.npy"), dx::UserError);
  std::ofstream(dir / "text.npy") << "hello world, not numpy";
  EXPECT_THROW(dx::NpyMap(dir / "text.npy"), dx::UserError);
}
