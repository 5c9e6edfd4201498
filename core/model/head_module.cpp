#include "model/head_module.h"

#include <torch/script.h>

#include <filesystem>
#include <memory>

namespace dx {

HeadFunction loadHeadModule(const std::string& path, const std::string& layer,
                            const at::Tensor& classTokens) {
  if (!std::filesystem::is_regular_file(path)) throw UserError(path + ": no such head file.");
  auto module = std::make_shared<torch::jit::Module>();
  try {
    *module = torch::jit::load(path, torch::kCPU);
  } catch (const c10::Error& e) {
    throw UserError(path + ": not a TorchScript module; save the head with torch.jit.save or "
                    "export the model with packaging/export_model.py.");
  }
  module->eval();
  std::string method = "head_" + layer;
  if (!layer.empty() && module->find_method(method) &&
      module->get_method(method).function().getSchema().arguments().size() == 3) {
    if (!classTokens.defined())
      throw UserError(path + ": " + method + " also reads each image's class tokens; use a cache "
                      "extracted by this version of Directrix (it keeps them).");
    return HeadFunction(
        [module, method](const at::Tensor& z, const at::Tensor& tokens) {
          return module->get_method(method)({z.to(torch::kFloat), tokens.to(torch::kFloat)})
              .toTensor();
        },
        classTokens);
  }
  if (!layer.empty() && module->find_method(method)) {
    return [module, method](const at::Tensor& z) {
      // A copy: a user's head may work in place, and z may be a read-only mapped cache.
      return module->get_method(method)({z.to(torch::kFloat).clone()}).toTensor();
    };
  }
  if (!module->find_method("forward"))
    throw UserError(path + ": has neither " + method + " nor forward; pass the model exported "
                    "with --layers " + layer + ".");
  return [module](const at::Tensor& z) {
    return module->forward({z.to(torch::kFloat).clone()}).toTensor();
  };
}

}  // namespace dx
