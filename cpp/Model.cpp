// gvae::Model: one interface over TorchScript (.pt) and AOTInductor (.pt2) models.
#include "gvae/Model.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/InferenceMode.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/cuda.h>
#include <torch/script.h>

#include "DeviceScope.h"
#include "gvae/Cuda.h"
#include "gvae/Errors.h"
#include "gvae/Threading.h"

namespace gvae {

Device parseDevice(std::string_view name) {
  if (name == "cpu") return Device::Cpu;
  if (name == "cuda") return Device::Cuda;
  if (name == "auto") return Device::Auto;
  throw Error("unknown device '" + std::string(name) + "' (expected cpu, cuda or auto; cuda:N through " +
              "gvae::parseDeviceSpec and ModelOptions::device_index)");
}

const char* deviceName(Device device) noexcept {
  switch (device) {
    case Device::Cpu: return "cpu";
    case Device::Cuda: return "cuda";
    case Device::Auto: return "auto";
  }
  return "?";
}

const char* formatName(ModelFormat format) noexcept {
  return format == ModelFormat::TorchScript ? "torchscript" : "aoti";
}

namespace {

constexpr const char* kContractExtraFile = "contract.json";
constexpr const char* kContractMetadataKey = "gvae_contract";

// AOTInductor package construction (extraction to a temp dir, dlopen) is serialised process-wide.
std::mutex& aotiLoadMutex() {
  static std::mutex m;
  return m;
}

bool cudaAvailable() {
  try {
    return torch::cuda::is_available();
  } catch (...) {
    return false;
  }
}

ModelFormat detectFormat(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ModelLoadError("cannot open model file '" + path + "'");
  char magic[4] = {0, 0, 0, 0};
  in.read(magic, 4);
  if (in.gcount() != 4 || std::memcmp(magic, "PK\x03\x04", 4) != 0)
    throw ModelLoadError("model file '" + path +
                         "' is not a zip archive (neither a TorchScript .pt nor an AOTInductor .pt2)");
  std::vector<std::string> records;
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    records = reader.getAllRecords();
  } catch (const std::exception& e) {
    throw ModelLoadError("cannot read model archive '" + path + "': " + e.what());
  }
  bool aoti = false, script = false;
  for (const std::string& r : records) {
    if (r.rfind("data/aotinductor/", 0) == 0) aoti = true;
    if (r.rfind("code/", 0) == 0 || r == "constants.pkl") script = true;
  }
  if (aoti) return ModelFormat::AOTInductor;
  if (script) return ModelFormat::TorchScript;
  throw ModelLoadError("model archive '" + path +
                       "' holds neither TorchScript code/ nor an AOTInductor data/aotinductor/ package");
}

// Names of the AOTInductor models in a package: data/aotinductor/<name>/... records.
std::vector<std::string> aotiModelNames(const std::string& path) {
  std::vector<std::string> names;
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    for (const std::string& r : reader.getAllRecords()) {
      const std::string prefix = "data/aotinductor/";
      if (r.rfind(prefix, 0) != 0) continue;
      const std::size_t end = r.find('/', prefix.size());
      if (end == std::string::npos) continue;
      std::string name = r.substr(prefix.size(), end - prefix.size());
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(std::move(name));
    }
  } catch (const std::exception& e) {
    throw ModelLoadError("cannot read model archive '" + path + "': " + e.what());
  }
  std::sort(names.begin(), names.end());
  return names;
}

c10::Device resolve(Device requested, int index, const std::string& exportedFor, ModelFormat format,
                    const std::string& path) {
  const bool cuda = cudaAvailable();
  if (requested == Device::Cuda && !cuda)
    throw DeviceUnavailable("device 'cuda' requested for '" + path +
                            "' but torch::cuda::is_available() is false (no GPU, or LibTorch without CUDA)");
  if (requested == Device::Cpu && index >= 0)
    throw Error("device_index " + std::to_string(index) + " given for '" + path + "' on the CPU (CUDA only)");
  // Auto: where the model was exported for (the contract's /model/device).
  if (requested == Device::Auto) {
    if (format == ModelFormat::AOTInductor)
      requested = exportedFor == "cuda" ? Device::Cuda : Device::Cpu;
    else
      requested = exportedFor == "cuda" && cuda ? Device::Cuda : Device::Cpu;
  }
  if (format == ModelFormat::AOTInductor) {
    // Compiled code runs on the device type it was compiled for only.
    if (std::string(deviceName(requested)) != exportedFor)
      throw DeviceUnavailable("AOTInductor package '" + path + "' was compiled for '" + exportedFor +
                              "' and cannot run on '" + deviceName(requested) + "'");
    if (requested == Device::Cuda && !cuda)
      throw DeviceUnavailable("AOTInductor package '" + path +
                              "' was compiled for cuda but torch::cuda::is_available() is false");
  }
  if (requested != Device::Cuda) return c10::Device(c10::kCPU);
  const int count = cudaDeviceCount();
  if (index < 0) index = c10::impl::VirtualGuardImpl(c10::kCUDA).getDevice().index();  // current device
  if (index >= count)
    throw DeviceUnavailable("device 'cuda:" + std::to_string(index) + "' requested for '" + path +
                            "' but LibTorch sees " + std::to_string(count) + " CUDA device(s)");
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

}  // namespace

struct Model::Impl {
  std::string path;
  ModelFormat format = ModelFormat::TorchScript;
  c10::Device device{c10::kCPU};
  Contract contract;
  // TorchScript: forward() is not const in the API but concurrent calls on one module are safe
  // (graph executors lock internally); the module is never modified after loading.
  mutable torch::jit::Module script;
  // AOTInductor: run() picks a free model-container runner (num_runners of them) or waits.
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> aoti;
  // Contract v2 AOTInductor: one loader per entry point (the package's model of that name).
  std::unordered_map<std::string, std::unique_ptr<torch::inductor::AOTIModelPackageLoader>> entries;
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

const Contract& Model::contract() const noexcept { return impl_->contract; }
ModelFormat Model::format() const noexcept { return impl_->format; }
c10::Device Model::device() const noexcept { return impl_->device; }
const std::string& Model::path() const noexcept { return impl_->path; }

std::shared_ptr<const Model> Model::load(const std::string& path, Device device, const ModelOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->format = detectFormat(path);

  if (impl->format == ModelFormat::TorchScript) {
    // Read the contract first, then load straight onto the resolved device: a frozen module keeps
    // its weights as graph constants, which only the load's map_location moves (not Module::to).
    std::string text;
    try {
      caffe2::serialize::PyTorchStreamReader reader(path);
      const std::string record = std::string("extra/") + kContractExtraFile;
      if (reader.hasRecord(record)) {
        auto [data, size] = reader.getRecord(record);
        text.assign(static_cast<const char*>(data.get()), size);
      }
    } catch (const std::exception& e) {
      throw ModelLoadError("cannot read TorchScript archive '" + path + "': " + e.what());
    }
    if (text.empty())
      throw ContractError("TorchScript model '" + path + "' has no '" + kContractExtraFile + "' extra file");
    impl->contract = Contract::parse(text, path);
    if (impl->contract.format != "torchscript")
      throw ContractError("contract of '" + path + "': field '/model/format': says '" + impl->contract.format +
                          "' but the file is a TorchScript archive");
    impl->device = resolve(device, options.device_index, impl->contract.device, impl->format, path);
    try {
      c10::OptionalDeviceGuard guard;  // CUDA: allocate on the resolved device, restore afterwards
      if (impl->device.is_cuda()) guard.reset_device(impl->device);
      torch::jit::ExtraFilesMap extra{{kContractExtraFile, ""}};
      impl->script = torch::jit::load(path, impl->device, extra);
      impl->script.eval();
    } catch (const std::exception& e) {
      throw ModelLoadError("cannot load TorchScript model '" + path + "' on " + impl->device.str() + ": " +
                           e.what());
    }
  } else {
    std::unordered_map<std::string, std::string> metadata;
    try {
      // Same lock as construction: both parse the package's JSON through shared static state.
      std::lock_guard<std::mutex> lock(aotiLoadMutex());
      // v1 packages hold one model "model"; v2 one per entry point, all with the same contract
      const std::vector<std::string> names = aotiModelNames(path);
      const bool single = names.empty() || std::find(names.begin(), names.end(), "model") != names.end();
      metadata = torch::inductor::AOTIModelPackageLoader::load_metadata_from_package(path, single ? "model"
                                                                                                 : names.front());
    } catch (const std::exception& e) {
      throw ModelLoadError("cannot read AOTInductor package metadata of '" + path + "': " + e.what());
    }
    auto it = metadata.find(kContractMetadataKey);
    if (it == metadata.end() || it->second.empty())
      throw ContractError("AOTInductor package '" + path + "' has no '" + kContractMetadataKey + "' metadata");
    impl->contract = Contract::parse(it->second, path);
    if (impl->contract.format != "aoti")
      throw ContractError("contract of '" + path + "': field '/model/format': says '" + impl->contract.format +
                          "' but the file is an AOTInductor package");
    auto dev = metadata.find("AOTI_DEVICE_KEY");
    if (dev != metadata.end() && dev->second != impl->contract.device)
      throw ContractError("contract of '" + path + "': field '/model/device': says '" + impl->contract.device +
                          "' but the package was compiled for '" + dev->second + "'");
    impl->device = resolve(device, options.device_index, impl->contract.device, impl->format, path);
    std::size_t runners = options.aoti_runners;
    if (runners == 0) runners = std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 64);
    if (impl->contract.schema_version >= Contract::kSchemaVersionV2) {
      const std::vector<std::string> names = aotiModelNames(path);
      for (const EntryPoint& ep : impl->contract.entry_points) {
        if (std::find(names.begin(), names.end(), ep.aoti_model) == names.end())
          throw ContractError("contract of '" + path + "': field '/entry_points/" + ep.name +
                              "/aoti_model': the package has no model '" + ep.aoti_model + "'");
        try {
          c10::OptionalDeviceGuard guard;  // CUDA: constants go to the resolved device
          if (impl->device.is_cuda()) guard.reset_device(impl->device);
          std::lock_guard<std::mutex> lock(aotiLoadMutex());
          impl->entries[ep.name] = std::make_unique<torch::inductor::AOTIModelPackageLoader>(
              path, ep.aoti_model, /*run_single_threaded=*/false, runners,
              impl->device.is_cuda() ? impl->device.index() : c10::DeviceIndex(-1));
        } catch (const std::exception& e) {
          throw ModelLoadError("cannot load entry point '" + ep.name + "' of AOTInductor package '" + path +
                               "': " + e.what());
        }
      }
    } else {
      try {
        c10::OptionalDeviceGuard guard;  // CUDA: constants go to the resolved device
        if (impl->device.is_cuda()) guard.reset_device(impl->device);
        std::lock_guard<std::mutex> lock(aotiLoadMutex());
        impl->aoti = std::make_unique<torch::inductor::AOTIModelPackageLoader>(
            path, "model", /*run_single_threaded=*/false, runners,
            impl->device.is_cuda() ? impl->device.index() : c10::DeviceIndex(-1));
      } catch (const std::exception& e) {
        throw ModelLoadError("cannot load AOTInductor package '" + path + "': " + e.what());
      }
    }
  }
  return std::shared_ptr<const Model>(new Model(std::move(impl)));
}

namespace {

std::string shapeText(at::IntArrayRef sizes) {
  std::string s = "[";
  for (std::size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  return s + "]";
}

void expectTensor(const at::Tensor& t, const std::string& source, const char* name, at::ScalarType dtype,
                  const std::vector<int64_t>& shape) {
  const std::string where = source + ": field '" + name + "': ";
  if (!t.defined()) throw InvalidInput(where + "undefined tensor");
  if (t.scalar_type() != dtype)
    throw InvalidInput(where + "dtype " + c10::toString(t.scalar_type()) + ", expected " + c10::toString(dtype));
  if (t.sizes() != at::IntArrayRef(shape))
    throw InvalidInput(where + "shape " + shapeText(t.sizes()) + ", expected " + shapeText(shape));
}

// A float is NaN or +-Inf iff its exponent bits are all ones (branch-free, vectorisable).
inline std::uint32_t nonFinite(float v) noexcept {
  std::uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return static_cast<std::uint32_t>((u & 0x7f800000u) == 0x7f800000u);
}

const char* kFeatureNames[6] = {"x", "y", "log_energy", "is_track", "is_ecal", "is_hcal"};

// Per batch row: 1 where the row of `t` (CPU, contiguous, [B, ...]) holds a bad value.
template <typename T, typename Bad>
std::vector<std::uint8_t> badRowsCpu(const at::Tensor& t, Bad bad) {
  const int64_t B = t.size(0), per = t.numel() / std::max<int64_t>(B, 1);
  const T* p = t.const_data_ptr<T>();
  std::vector<std::uint8_t> rows(static_cast<std::size_t>(B), 0);
  for (int64_t b = 0; b < B; ++b) {
    std::uint32_t acc = 0;
    const T* row = p + b * per;
    for (int64_t i = 0; i < per; ++i) acc |= bad(row[i]);
    rows[static_cast<std::size_t>(b)] = acc != 0;
  }
  return rows;
}

// First batch row flagged in `rowsBad` (bool [B] on any device), or -1.
int64_t firstBadRow(const at::Tensor& rowsBad) {
  at::Tensor cpu = rowsBad.to(at::kCPU);
  if (!cpu.any().item<bool>()) return -1;
  return cpu.nonzero()[0][0].item<int64_t>();
}

}  // namespace

void validateInputs(const Contract& c, const at::Tensor& features, const at::Tensor& neighbours,
                    const at::Tensor& mask, const at::Tensor& noise, const std::string& source) {
  if (!features.defined() || features.dim() != 3 || features.size(0) < 1)
    throw InvalidInput(source + ": field 'features': expected shape [B, " + std::to_string(c.max_nodes) +
                       ", 6] with B >= 1, got " + (features.defined() ? shapeText(features.sizes()) : "undefined"));
  const int64_t B = features.size(0), N = c.max_nodes, K = c.k;
  expectTensor(features, source, "features", at::kFloat, {B, N, 6});
  expectTensor(neighbours, source, "neighbours", at::kLong, {B, N, K});
  expectTensor(mask, source, "mask", at::kBool, {B, N});
  expectTensor(noise, source, "noise", at::kFloat, {B, c.clusters, c.latent_dim});

  c10::InferenceMode guard;
  // Neighbour indices: the AOTInductor kernels gather with them unchecked (std::terminate inside
  // OpenMP on a bad one), TorchScript raises a bare RuntimeError; both are refused here.
  {
    const auto outside = [N](int64_t v) noexcept {
      return static_cast<std::uint32_t>(static_cast<std::uint64_t>(v) >= static_cast<std::uint64_t>(N));
    };
    int64_t row = -1;
    at::Tensor nb = neighbours;
    if (nb.is_cpu()) {
      nb = nb.contiguous();
      const auto rows = badRowsCpu<int64_t>(nb, outside);
      const auto it = std::find(rows.begin(), rows.end(), 1);
      if (it != rows.end()) row = it - rows.begin();
    } else {
      row = firstBadRow(((nb < 0) | (nb >= N)).flatten(1).any(1));
    }
    if (row >= 0) {
      const at::Tensor r = nb[row].to(at::kCPU).contiguous();
      const int64_t* p = r.const_data_ptr<int64_t>();
      for (int64_t i = 0; i < N * K; ++i)
        if (outside(p[i]))
          throw InvalidInput(source + ": batch row " + std::to_string(row) + ", field 'neighbours': node " +
                             std::to_string(i / K) + ", slot " + std::to_string(i % K) + " holds index " +
                             std::to_string(p[i]) + ", outside [0, " + std::to_string(N) + ")");
    }
  }
  // Features and noise: NaN/Inf would run through the model silently.
  const auto finite = [&](const at::Tensor& t, const char* field, int64_t width,
                          const std::function<std::string(int64_t, int64_t)>& where) {
    int64_t row = -1;
    at::Tensor x = t;
    if (x.is_cpu()) {
      x = x.contiguous();
      const auto rows = badRowsCpu<float>(x, nonFinite);
      const auto it = std::find(rows.begin(), rows.end(), 1);
      if (it != rows.end()) row = it - rows.begin();
    } else {
      row = firstBadRow(at::isfinite(x).logical_not().flatten(1).any(1));
    }
    if (row < 0) return;
    const at::Tensor r = x[row].to(at::kCPU).contiguous();
    const float* p = r.const_data_ptr<float>();
    for (int64_t i = 0; i < r.numel(); ++i)
      if (nonFinite(p[i]))
        throw InvalidInput(source + ": batch row " + std::to_string(row) + ", field '" + field + "': " +
                           where(i / width, i % width) + " is " + std::to_string(p[i]) + " (not finite)");
  };
  finite(features, "features", 6, [](int64_t node, int64_t col) {
    return "node " + std::to_string(node) + ", feature '" + kFeatureNames[col] + "'";
  });
  finite(noise, "noise", c.latent_dim, [](int64_t cluster, int64_t dim) {
    return "cluster " + std::to_string(cluster) + ", dimension " + std::to_string(dim);
  });
}

at::Tensor Model::forward(const at::Tensor& features, const at::Tensor& neighbours, const at::Tensor& mask,
                          const at::Tensor& noise, std::optional<c10::Stream> stream) const {
  const Contract& c = impl_->contract;
  if (c.schema_version != Contract::kSchemaVersion)
    throw ContractError("Model::forward('" + impl_->path + "'): a contract schema_version " +
                        std::to_string(c.schema_version) + " model has no single forward; call run('reconstruct', ...)");
  const std::string what = "Model::forward('" + impl_->path + "')";
  // CUDA: device guard + the caller's stream for everything below (checks, copies, the model).
  const detail::DeviceScope scope(impl_->device, stream, what);
  validateInputs(c, features, neighbours, mask, noise, what);
  const int64_t B = features.size(0);
  // The compiled AOTInductor kernels size their OpenMP teams from this thread's setting.
  applyThreadsToCallingThread();

  c10::InferenceMode guard;
  std::vector<at::Tensor> in = {scope.toDevice(features), scope.toDevice(neighbours), scope.toDevice(mask),
                                scope.toDevice(noise)};
  at::Tensor out;
  try {
    if (impl_->format == ModelFormat::TorchScript) {
      std::vector<c10::IValue> args(in.begin(), in.end());
      out = impl_->script.forward(args).toTensor();
    } else {
      std::vector<at::Tensor> outs = impl_->aoti->run(in, scope.nativeHandle());
      if (outs.size() != 1)
        throw Error("AOTInductor model '" + impl_->path + "' returned " + std::to_string(outs.size()) +
                    " outputs, expected 1");
      out = std::move(outs[0]);
    }
  } catch (const gvae::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error("forward of model '" + impl_->path + "' failed: " + e.what());
  }
  if (out.scalar_type() != at::kFloat || out.dim() != 3 || out.size(0) != B || out.size(1) != c.max_nodes ||
      out.size(2) != 3)
    throw ContractError("model '" + impl_->path + "' returned a tensor of shape " +
                        c10::str(out.sizes()) + " and dtype " + c10::toString(out.scalar_type()) +
                        ", the contract promises float32 [B, " + std::to_string(c.max_nodes) + ", 3]");
  return out;
}

namespace {

at::ScalarType dtypeOf(const std::string& name) {
  if (name == "float32") return at::kFloat;
  if (name == "float64") return at::kDouble;
  if (name == "int64") return at::kLong;
  return at::kBool;
}

}  // namespace

bool Model::hasEntryPoint(const std::string& name) const noexcept {
  return impl_->contract.entryPoint(name) != nullptr;
}

std::vector<at::Tensor> Model::run(const std::string& name, const std::vector<at::Tensor>& inputs,
                                   std::optional<c10::Stream> stream) const {
  const Contract& c = impl_->contract;
  const std::string source = "Model::run('" + impl_->path + "', '" + name + "')";
  // CUDA: device guard + the caller's stream for everything below (checks, copies, the model).
  const detail::DeviceScope scope(impl_->device, stream, source);
  const EntryPoint* ep = c.entryPoint(name);
  if (ep == nullptr)
    throw ContractError(source + ": the model's contract (schema_version " + std::to_string(c.schema_version) +
                        ") has no entry point '" + name + "'");
  if (inputs.size() != ep->inputs.size())
    throw InvalidInput(source + ": " + std::to_string(inputs.size()) + " inputs, the entry point takes " +
                       std::to_string(ep->inputs.size()));
  if (!inputs[0].defined() || inputs[0].dim() < 1)
    throw InvalidInput(source + ": field '" + ep->inputs[0].name + "': expected a tensor with a batch axis");
  const int64_t B = inputs[0].size(0);
  if (B < c.batch_min || B > c.batch_max)
    throw InvalidInput(source + ": field 'batch': batch " + std::to_string(B) + " outside the artifact's batch range [" +
                       std::to_string(c.batch_min) + ", " + std::to_string(c.batch_max) + "] (contract 'batch')");
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    std::vector<int64_t> shape = ep->inputs[i].shape;
    shape[0] = B;
    expectTensor(inputs[i], source, ep->inputs[i].name.c_str(), dtypeOf(ep->inputs[i].dtype), shape);
  }
  if (name == "reconstruct") validateInputs(c, inputs[0], inputs[1], inputs[2], inputs[3], source);
  {
    c10::InferenceMode guard;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const at::Tensor& t = inputs[i];
      if (!at::isFloatingType(t.scalar_type())) continue;
      const int64_t row = firstBadRow(at::isfinite(t).logical_not().reshape({B, -1}).any(1));
      if (row >= 0)
        throw InvalidInput(source + ": batch row " + std::to_string(row) + ", field '" + ep->inputs[i].name +
                           "': holds a value that is not finite");
    }
  }

  // The compiled AOTInductor kernels size their OpenMP teams from this thread's setting.
  applyThreadsToCallingThread();
  c10::InferenceMode guard;
  std::vector<at::Tensor> in;
  in.reserve(inputs.size());
  for (const at::Tensor& t : inputs) in.push_back(scope.toDevice(t));
  std::vector<at::Tensor> outs;
  try {
    if (impl_->format == ModelFormat::TorchScript) {
      std::vector<c10::IValue> args(in.begin(), in.end());
      c10::IValue result = impl_->script.get_method(name)(std::move(args));
      if (result.isTuple()) {
        for (const c10::IValue& v : result.toTupleRef().elements()) outs.push_back(v.toTensor());
      } else if (result.isTensorList()) {
        for (const at::Tensor& t : result.toTensorVector()) outs.push_back(t);
      } else {
        outs.push_back(result.toTensor());
      }
    } else {
      outs = impl_->entries.at(name)->run(in, scope.nativeHandle());
    }
  } catch (const gvae::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(source + " failed: " + e.what());
  }
  if (outs.size() != ep->outputs.size())
    throw ContractError(source + ": returned " + std::to_string(outs.size()) + " outputs, the contract promises " +
                        std::to_string(ep->outputs.size()));
  for (std::size_t i = 0; i < outs.size(); ++i) {
    std::vector<int64_t> shape = ep->outputs[i].shape;
    shape[0] = B;
    if (outs[i].scalar_type() != dtypeOf(ep->outputs[i].dtype) || outs[i].sizes() != at::IntArrayRef(shape))
      throw ContractError(source + ": output '" + ep->outputs[i].name + "' is " +
                          c10::toString(outs[i].scalar_type()) + " " + shapeText(outs[i].sizes()) +
                          ", the contract promises " + ep->outputs[i].dtype + " " + shapeText(shape));
  }
  return outs;
}

}  // namespace gvae
