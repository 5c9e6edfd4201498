#include "base/tensor_io.h"

#include <torch/torch.h>

#include <memory>

#include "base/npy.h"
#include "base/progress.h"

namespace dx {

at::Tensor readNpyTensor(const std::string& path) {
  NpyMap map(path);
  std::vector<int64_t> shape(map.shape().begin(), map.shape().end());
  const std::string& d = map.descr();
  c10::ScalarType type;
  if (d == npy::float32) type = torch::kFloat;
  else if (d == npy::float16) type = torch::kHalf;
  else if (d == npy::int64) type = torch::kLong;
  else if (d == npy::int32) type = torch::kInt;
  else if (d == npy::uint8 || d == "|b1") type = d == "|b1" ? torch::kBool : torch::kByte;
  else
    throw UserError(path + ": dtype '" + d + "' is not supported; save float32, float16, int64, "
                    "int32, uint8 or bool arrays.");
  // numpy bools are bytes; any byte other than 0 reads as true (a bool tensor of other byte
  // values would be undefined).
  if (type == torch::kBool)
    return torch::from_blob(const_cast<uint8_t*>(map.data()), shape, torch::kByte).ne(0);
  auto view = torch::from_blob(const_cast<uint8_t*>(map.data()), shape, type);
  return type == torch::kHalf ? view.to(torch::kFloat) : view.clone();
}

at::Tensor mapNpyTensor(const std::string& path) {
  auto map = std::make_shared<NpyMap>(path);
  bool half = map->descr() == npy::float16;
  if (!half && map->descr() != npy::float32)
    throw UserError(path + ": activations must be float32 or float16, not '" + map->descr() + "'.");
  std::vector<int64_t> shape(map->shape().begin(), map->shape().end());
  return torch::from_blob(const_cast<uint8_t*>(map->data()), shape,
                          [map](void*) mutable { map.reset(); },
                          torch::TensorOptions().dtype(half ? torch::kHalf : torch::kFloat));
}

at::Tensor npyRows(const NpyMap& map, size_t first, size_t count) {
  bool half = map.descr() == npy::float16;
  if (!half && map.descr() != npy::float32)
    throw UserError("activations must be float32 or float16, not '" + map.descr() + "'.");
  if (map.shape().empty() || first > map.rows() || count > map.rows() - first)
    throw UserError(map.path() + ": rows " + std::to_string(first) + " to " +
                    std::to_string(first + count) + " are outside the array.");
  std::vector<int64_t> shape(map.shape().begin(), map.shape().end());
  shape[0] = static_cast<int64_t>(count);
  auto view = torch::from_blob(const_cast<uint8_t*>(map.row(first)), shape,
                               half ? torch::kHalf : torch::kFloat);
  return half ? view.to(torch::kFloat) : view.clone();
}

void writeNpyTensor(const std::string& path, const at::Tensor& tensor) {
  auto t = tensor.detach().to(torch::kCPU).contiguous();
  if (t.scalar_type() == torch::kBool) t = t.to(torch::kByte);
  std::string descr;
  switch (t.scalar_type()) {
    case torch::kFloat: descr = npy::float32; break;
    case torch::kDouble: t = t.to(torch::kFloat); descr = npy::float32; break;
    case torch::kLong: descr = npy::int64; break;
    case torch::kInt: descr = npy::int32; break;
    case torch::kByte: descr = npy::uint8; break;
    default: throw UserError(path + ": cannot write tensors of this type as .npy.");
  }
  std::vector<size_t> shape(t.sizes().begin(), t.sizes().end());
  writeNpy(path, descr, shape, t.data_ptr());
}

}  // namespace dx
