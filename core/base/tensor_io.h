#pragma once
// Conversions between .npy files and torch tensors (the one place for them).
#include <string>

#include <ATen/core/Tensor.h>

namespace dx {

class NpyMap;

// Reads float32, float16 (returned as float32), int64, int32, uint8 or bool .npy files into a CPU
// tensor of the same shape. Throws UserError naming the file and the accepted types.
at::Tensor readNpyTensor(const std::string& path);
// A float32 or float16 .npy file as a tensor of its dtype whose memory is the read-only mapping
// of the file (kept open while the tensor lives): nothing is read until used, and the pages are
// the file's, so arrays larger than memory work. Never write to it (the mapping is read-only).
at::Tensor mapNpyTensor(const std::string& path);
// Rows [first, first + count) of a mapped float32/float16 array, as a float32 CPU tensor of shape
// count x (the array's other dimensions). Memory: only these rows are read.
at::Tensor npyRows(const NpyMap& map, size_t first, size_t count);
// Writes a CPU or device tensor (float32, int64, bool -> uint8) as .npy.
void writeNpyTensor(const std::string& path, const at::Tensor& tensor);

}  // namespace dx
