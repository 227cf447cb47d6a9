// The CUDA backend: activations NHWC in the plan's precision (f32, f16 or bf16) on one stream;
// convolutions through cuDNN's legacy API (NHWC tensors, KRSC filters, f32 accumulation, TF32 off
// for f32), linear layers through cuBLAS (f32, no TF32), everything else through the CUDA twins in
// kernels/network/*.cu. Weights are converted and uploaded once (per precision) and kept for the backend's
// life; algorithms and the one shared workspace are chosen when a plan is prepared.
#include <cuda_profiler_api.h>
#include <cudnn.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "base/cuda_check.h"
#include "base/error.h"
#include "engine/backend.h"
#include "engine/cuda/conv_direct.h"
#include "engine/cuda/cuda_device_info.h"
#include "engine/cuda/cuda_graph.h"
#include "engine/model.h"
#include "engine/op_args.h"
#include "kernels/network/attention.h"
#include "kernels/network/embedding.h"
#include "kernels/network/group_norm.h"
#include "kernels/network/resample.h"

#define RD_CUDNN_CHECK(call)                                                                 \
  do {                                                                                       \
    cudnnStatus_t rd_st_ = (call);                                                           \
    if (rd_st_ != CUDNN_STATUS_SUCCESS)                                                      \
      ::reddiff::cuda_fail("cuDNN", #call, cudnnGetErrorString(rd_st_), __FILE__, __LINE__); \
  } while (0)

namespace reddiff {

namespace {

cudnnDataType_t cudnn_type(DType t) {
  switch (t) {
    case DType::F32:
      return CUDNN_DATA_FLOAT;
    case DType::F16:
      return CUDNN_DATA_HALF;
    case DType::BF16:
      return CUDNN_DATA_BFLOAT16;
    default:
      throw Error(std::string("cuda backend: unsupported activation dtype ") + dtype_name(t), 1);
  }
}

size_t env_size(const char* name, size_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  unsigned long long x = std::strtoull(v, &end, 10);
  return end && *end == 0 ? size_t(x) : fallback;
}

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

// A cheap identity check for cached weights: a Param's address can be reused by a later model.
uint64_t fingerprint(const Param& p) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](uint64_t v) {
    h ^= v;
    h *= 1099511628211ull;
  };
  mix(uint64_t(reinterpret_cast<uintptr_t>(p.data.data())));
  mix(uint64_t(p.data.size()));
  for (char ch : p.name) mix(uint64_t(uint8_t(ch)));
  for (auto d : p.shape) mix(uint64_t(d));
  size_t n = p.data.size(), step = std::max<size_t>(1, n / 256);
  for (size_t i = 0; i < n; i += step) {
    uint32_t bits;
    std::memcpy(&bits, &p.data[i], 4);
    mix(bits);
  }
  if (n) {
    uint32_t bits;
    std::memcpy(&bits, &p.data[n - 1], 4);
    mix(bits);
  }
  return h;
}

struct DeviceWeight {
  void* ptr = nullptr;
  size_t bytes = 0;
  uint64_t print = 0;
};

struct ConvKey {
  int n, h, w, ci, co, ho, wo, k, stride, pad;
  DType dtype;
  auto tie() const { return std::tie(n, h, w, ci, co, ho, wo, k, stride, pad, dtype); }
  bool operator<(const ConvKey& o) const { return tie() < o.tie(); }
  size_t x_bytes() const { return size_t(n) * h * w * ci * dtype_size(dtype); }
  size_t y_bytes() const { return size_t(n) * ho * wo * co * dtype_size(dtype); }
  std::string str() const {
    return std::to_string(n) + "x" + std::to_string(h) + "x" + std::to_string(w) + "x" + std::to_string(ci) + " -> " +
           std::to_string(co) + " k" + std::to_string(k) + " s" + std::to_string(stride) + " " + dtype_name(dtype);
  }
};

struct ConvAlgo {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t workspace = 0;
  bool direct = false;  // no working cuDNN algorithm: conv_direct_cuda
  ConvAlgo() = default;
  ConvAlgo(const ConvAlgo&) = delete;
  ConvAlgo& operator=(const ConvAlgo&) = delete;
  ~ConvAlgo() {
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (x) cudnnDestroyTensorDescriptor(x);
  }
};

// cuDNN backward-data convolution (the VJP): the forward shape's descriptors and an algorithm of its own.
struct ConvBwdAlgo {
  std::unique_ptr<ConvAlgo> desc;
  cudnnConvolutionBwdDataAlgo_t algo = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t workspace = 0;
  bool direct = false;  // no working cuDNN algorithm: conv_backward_data_direct_cuda
};

class CudaBackend : public Backend {
 public:
  explicit CudaBackend(int device) : dev_(device) {
    RD_CUDA_CHECK(cudaSetDevice(dev_));
    RD_CUDA_CHECK(cudaGetDeviceProperties(&prop_, dev_));
    // A blocking stream: work on the legacy default stream (plain cudaMemcpy elsewhere) stays ordered with it.
    RD_CUDA_CHECK(cudaStreamCreate(&stream_));
    RD_CUDNN_CHECK(cudnnCreate(&cudnn_));
    RD_CUDNN_CHECK(cudnnSetStream(cudnn_, stream_));
    size_t v = cudnnGetVersion();
    name_ = std::string("cuda (") + prop_.name + ", cc " + std::to_string(prop_.major) + "." +
            std::to_string(prop_.minor) + ", cuDNN " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) +
            "." + std::to_string(v % 100) + ")";
  }

  ~CudaBackend() override {
    cudaStreamSynchronize(stream_);
    convs_.clear();
    convs_bwd_.clear();
    for (auto& kv : filters_) cudaFree(kv.second.ptr);
    for (auto& kv : f32_) cudaFree(kv.second.ptr);
    if (workspace_) cudaFree(workspace_);
    if (cudnn_) cudnnDestroy(cudnn_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  std::unique_ptr<CapturedWork> capture(const std::function<void()>& issue, std::string* why) override {
    RD_CUDA_CHECK(cudaSetDevice(dev_));
    return capture_cuda_graph(stream_, issue, why);
  }

  void profile_range(bool open) override {
    RD_CUDA_CHECK(cudaSetDevice(dev_));
    RD_CUDA_CHECK(cudaStreamSynchronize(stream_));
    RD_CUDA_CHECK(open ? cudaProfilerStart() : cudaProfilerStop());
  }

  bool memory_info(size_t* free_bytes, size_t* total_bytes) override {
    return cuda_memory_info(dev_, free_bytes, total_bytes);
  }
  std::unique_ptr<StreamTimer> make_timer() override { return make_cuda_event_timer(dev_, stream_); }
  DeviceProperties properties() const override { return cuda_device_properties(dev_); }

  void release_weights(const ModelWeights& w) override {
    cudaStreamSynchronize(stream_);
    for (const auto& kv : w.params) {
      const Param* p = &kv.second;
      auto it = f32_.find(p);
      if (it != f32_.end()) release(it->second), f32_.erase(it);
      for (auto f = filters_.begin(); f != filters_.end();) {
        if (f->first.first == p)
          release(f->second), f = filters_.erase(f);
        else
          ++f;
      }
    }
  }

  Device device() const override { return Device::CUDA; }
  std::string name() const override { return name_; }
  bool supports(DType act) const override {
    if (act == DType::F32 || act == DType::F16) return true;
    if (act == DType::BF16) return prop_.major >= 8;
    return false;
  }

  void* alloc(size_t bytes) override {
    if (bytes == 0) return nullptr;
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
      cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      throw Error("CUDA: cannot allocate " + mib(bytes) + " on " + prop_.name + " (" + mib(free_b) + " free of " +
                      mib(total_b) + "): " + cudaGetErrorString(e),
                  1);
    }
    return p;
  }
  void free(void* p) override {
    if (!p) return;
    cudaError_t e = cudaFree(p);
    if (e != cudaSuccess) std::fprintf(stderr, "reddiff: warning: cudaFree: %s\n", cudaGetErrorString(e));
  }
  void upload(void* dst, const void* src, size_t bytes) override {
    if (!bytes) return;
    RD_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
    RD_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void download(void* dst, const void* src, size_t bytes) override {
    if (!bytes) return;
    RD_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
    RD_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void copy(void* dst, const void* src, size_t bytes, Stream s) override {
    if (bytes && dst != src)
      RD_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, as_cuda_stream(s)));
  }
  void sync_stream(Stream s) override { RD_CUDA_CHECK(cudaStreamSynchronize(as_cuda_stream(s))); }
  void synchronize() override { RD_CUDA_CHECK(cudaStreamSynchronize(stream_)); }
  Stream stream() const override { return stream_; }
  size_t weight_bytes() const override { return weight_bytes_; }

  size_t prepare(const Graph& g, const ModelWeights&) override {
    RD_CUDA_CHECK(cudaSetDevice(dev_));
    size_t before = workspace_bytes_;
    size_t need = 0;
    std::vector<std::pair<ConvKey, const Op*>> new_convs, new_bwd;
    for (const Op& op : g.ops) {
      switch (op.kind) {
        case OpKind::Conv2d: {
          const Value& x = g.value(op.inputs[0]);
          const Value& y = g.value(op.output);
          if (x.dtype != y.dtype)
            throw Error("cuda backend: convolution " + op.name + " reads " + dtype_name(x.dtype) + " and writes " +
                            dtype_name(y.dtype),
                        1);
          (void)cudnn_type(x.dtype);
          if (!op.weight || op.kernel != (op.weight->shape.size() == 4 ? int(op.weight->shape[2]) : 1))
            throw Error("cuda backend: convolution " + op.name + ": kernel size does not match its weight", 1);
          filter(op.weight, x.dtype);
          if (op.bias) f32(op.bias);
          ConvKey key = conv_key(op, x.shape, y.shape, x.dtype);
          auto it = convs_.find(key);
          if (it != convs_.end())
            need = std::max(need, it->second->workspace);
          else if (std::none_of(new_convs.begin(), new_convs.end(),
                                [&](const auto& c) { return !(c.first < key) && !(key < c.first); }))
            new_convs.emplace_back(key, &op);
          break;
        }
        case OpKind::Linear:
          f32(op.weight);
          if (op.bias) f32(op.bias);
          if (op.silu) need = std::max(need, g.value(op.inputs[0]).bytes());
          break;
        case OpKind::GroupNorm:
          f32(op.weight);
          f32(op.bias);
          break;
        case OpKind::LabelEmbedAdd:
          f32(op.weight);
          break;
        case OpKind::Attention: {
          const Value& y = g.value(op.output);
          need = std::max(need, attention_workspace_bytes(Device::CUDA, int(y.shape[0]), int(y.shape[1] * y.shape[2]),
                                                          int(y.shape[3]), op.heads, y.dtype));
          break;
        }
        case OpKind::Conv2dBackwardData: {
          const Value& gy = g.value(op.inputs[0]);
          const Value& gx = g.value(op.output);
          if (gx.dtype != gy.dtype)
            throw Error("cuda backend: convolution backward " + op.name + " reads " + dtype_name(gy.dtype) +
                            " and writes " + dtype_name(gx.dtype),
                        1);
          (void)cudnn_type(gx.dtype);
          if (!op.weight || op.kernel != (op.weight->shape.size() == 4 ? int(op.weight->shape[2]) : 1))
            throw Error("cuda backend: convolution backward " + op.name + ": kernel size does not match its weight", 1);
          filter(op.weight, gx.dtype);
          ConvKey key = conv_key(op, gx.shape, gy.shape, gx.dtype);
          auto it = convs_bwd_.find(key);
          if (it != convs_bwd_.end())
            need = std::max(need, it->second->workspace);
          else if (std::none_of(new_bwd.begin(), new_bwd.end(),
                                [&](const auto& c) { return !(c.first < key) && !(key < c.first); }))
            new_bwd.emplace_back(key, &op);
          break;
        }
        case OpKind::GroupNormBackward:
          f32(op.weight);
          f32(op.bias);
          break;
        case OpKind::AttentionBackward: {
          const Value& gy = g.value(op.inputs[1]);
          need = std::max(
              need, attention_backward_workspace_bytes(Device::CUDA, int(gy.shape[0]), int(gy.shape[1] * gy.shape[2]),
                                                       int(gy.shape[3]), op.heads, gy.dtype));
          break;
        }
        default:
          break;
      }
    }
    if (!new_convs.empty()) need = std::max(need, choose_conv_algorithms(new_convs));
    if (!new_bwd.empty()) need = std::max(need, choose_conv_bwd_algorithms(new_bwd));
    grow_workspace(need);
    return workspace_bytes_ - before;
  }

  void run(const Graph& g, const Op& op, const OpTensors& t) override {
    cudaStream_t s = stream_;
    switch (op.kind) {
      case OpKind::Conv2d:
        return conv(op, t);
      case OpKind::Linear:
        return linear(op, t);
      case OpKind::GroupNorm:
        return group_norm(Device::CUDA, group_norm_args(op, t, f32_ptr(op.weight), f32_ptr(op.bias)), s);
      case OpKind::Attention: {
        AttentionArgs a = attention_args(op, t, workspace_);
        size_t need = attention_workspace_bytes(Device::CUDA, a.n, a.t, a.c, a.heads, a.dtype);
        if (need > workspace_bytes_) throw Error("cuda backend: attention " + op.name + " was not prepared", 1);
        return attention(Device::CUDA, a, s);
      }
      case OpKind::AvgPool2:
        return avg_pool2(Device::CUDA, resample_args(t), s);
      case OpKind::Upsample2:
        return upsample_nearest2(Device::CUDA, resample_args(t), s);
      case OpKind::Concat:
        return concat_channels(Device::CUDA, concat_args(t), s);
      case OpKind::InputPad:
        return input_pad(Device::CUDA, input_pad_args(g, t), s);
      case OpKind::OutputCrop:
        return output_crop(Device::CUDA, output_crop_args(g, t), s);
      case OpKind::TimestepEmbed:
        return timestep_embedding(Device::CUDA, timestep_embed_args(t), s);
      case OpKind::LabelEmbedAdd: {
        LabelEmbedArgs a = label_embed_args(t, f32_ptr(op.weight));
        check_labels(a.labels, a.n, int(op.weight->shape[0]));
        RD_CUDA_CHECK(cudaMemcpyAsync(t.out.data, t.in[0].data, t.out.nbytes(), cudaMemcpyDeviceToDevice, s));
        return label_embedding_add(Device::CUDA, a, s);
      }
      case OpKind::Conv2dBackwardData:
        return conv_backward_data(op, t);
      case OpKind::GroupNormBackward:
        return group_norm_backward(Device::CUDA, group_norm_backward_args(op, t, f32_ptr(op.weight), f32_ptr(op.bias)),
                                   s);
      case OpKind::AttentionBackward: {
        AttentionBackwardArgs a = attention_backward_args(op, t, workspace_);
        size_t need = attention_backward_workspace_bytes(Device::CUDA, a.n, a.t, a.c, a.heads, a.dtype);
        if (need > workspace_bytes_)
          throw Error("cuda backend: attention backward " + op.name + " was not prepared", 1);
        return attention_backward(Device::CUDA, a, s);
      }
      case OpKind::AvgPool2Backward:
        return avg_pool2_backward(Device::CUDA, resample_backward_args(op, t), s);
      case OpKind::Upsample2Backward:
        return upsample_nearest2_backward(Device::CUDA, resample_backward_args(op, t), s);
      case OpKind::ChannelSlice:
        return channel_slice(Device::CUDA, channel_slice_args(op, t), s);
      case OpKind::GradAdd:
        return grad_add(Device::CUDA, grad_add_args(t), s);
      case OpKind::InputPadBackward:
        return input_pad_backward(Device::CUDA, input_pad_backward_args(g, op, t), s);
      case OpKind::OutputCropBackward:
        return output_crop_backward(Device::CUDA, output_crop_backward_args(g, op, t), s);
    }
    throw Error(std::string("cuda backend: unknown op ") + op_kind_name(op.kind), 1);
  }

 private:
  static std::string mib(size_t b) { return std::to_string((b + (1 << 20) - 1) >> 20) + " MiB"; }

  static ConvKey conv_key(const Op& op, const std::vector<int64_t>& xs, const std::vector<int64_t>& ys, DType dt) {
    return ConvKey{int(xs[0]), int(xs[1]), int(xs[2]), int(xs[3]), int(ys[3]), int(ys[1]),
                   int(ys[2]), op.kernel,  op.stride,  op.pad,     dt};
  }

  void* device_copy(const void* host, size_t bytes) {
    void* p = alloc(bytes);
    RD_CUDA_CHECK(cudaMemcpy(p, host, bytes, cudaMemcpyHostToDevice));
    return p;
  }

  // f32 copy of a parameter (biases, norm weights, linear weights, label tables).
  const float* f32(const Param* p) {
    if (!p) throw Error("cuda backend: missing parameter", 1);
    uint64_t fp = fingerprint(*p);
    auto it = f32_.find(p);
    if (it != f32_.end()) {
      if (it->second.print == fp) return static_cast<const float*>(it->second.ptr);
      release(it->second);
      f32_.erase(it);
    }
    DeviceWeight dw;
    dw.bytes = p->data.size() * sizeof(float);
    dw.ptr = device_copy(p->data.data(), dw.bytes);
    dw.print = fp;
    weight_bytes_ += dw.bytes;
    f32_[p] = dw;
    return static_cast<const float*>(dw.ptr);
  }

  const float* f32_ptr(const Param* p) {
    if (!p) return nullptr;
    auto it = f32_.find(p);
    if (it == f32_.end()) return f32(p);  // not prepared: upload now (outside any capture)
    return static_cast<const float*>(it->second.ptr);
  }

  // OIHW (or [O, I, 1] for Conv1d) f32 -> KRSC ([O, kh, kw, I]) in dtype.
  const void* filter(const Param* p, DType dt) {
    if (!p) throw Error("cuda backend: missing convolution weight", 1);
    uint64_t fp = fingerprint(*p);
    auto key = std::make_pair(p, dt);
    auto it = filters_.find(key);
    if (it != filters_.end()) {
      if (it->second.print == fp) return it->second.ptr;
      release(it->second);
      filters_.erase(it);
    }
    if (p->shape.size() < 3) throw Error("cuda backend: " + p->name + " is not a convolution weight", 1);
    int64_t o = p->shape[0], i = p->shape[1], k = p->shape.size() == 4 ? p->shape[2] : 1;
    if (p->shape.size() == 4 && p->shape[3] != k) throw Error("cuda backend: non-square kernel " + p->name, 1);
    if (p->shape.size() == 3 && p->shape[2] != 1)
      throw Error("cuda backend: " + p->name + " is a Conv1d with kernel > 1", 1);
    size_t n = size_t(o * i * k * k);
    if (n != p->data.size())
      throw Error("cuda backend: " + p->name + " has " + std::to_string(p->data.size()) + " values, expected " +
                      std::to_string(n),
                  1);
    std::vector<float> krsc(n);
    for (int64_t oo = 0; oo < o; ++oo)
      for (int64_t ii = 0; ii < i; ++ii)
        for (int64_t kh = 0; kh < k; ++kh)
          for (int64_t kw = 0; kw < k; ++kw)
            krsc[size_t(((oo * k + kh) * k + kw) * i + ii)] = p->data[size_t(((oo * i + ii) * k + kh) * k + kw)];
    DeviceWeight dw;
    dw.bytes = n * dtype_size(dt);
    if (dt == DType::F32) {
      dw.ptr = device_copy(krsc.data(), dw.bytes);
    } else {
      std::vector<uint16_t> h(n);
      convert_elements(krsc.data(), DType::F32, h.data(), dt, n);
      dw.ptr = device_copy(h.data(), dw.bytes);
    }
    dw.print = fp;
    weight_bytes_ += dw.bytes;
    filters_[key] = dw;
    return dw.ptr;
  }

  void release(DeviceWeight& w) {
    free(w.ptr);
    weight_bytes_ -= w.bytes;
    w = DeviceWeight{};
  }

  void grow_workspace(size_t need) {
    if (need <= workspace_bytes_) return;
    RD_CUDA_CHECK(cudaStreamSynchronize(stream_));
    if (workspace_) free(workspace_);
    workspace_ = nullptr;
    workspace_bytes_ = 0;
    workspace_ = alloc(need);
    workspace_bytes_ = need;
  }

  std::unique_ptr<ConvAlgo> make_descriptors(const ConvKey& k) {
    auto a = std::make_unique<ConvAlgo>();
    cudnnDataType_t dt = cudnn_type(k.dtype);
    RD_CUDNN_CHECK(cudnnCreateTensorDescriptor(&a->x));
    RD_CUDNN_CHECK(cudnnCreateTensorDescriptor(&a->y));
    RD_CUDNN_CHECK(cudnnCreateFilterDescriptor(&a->w));
    RD_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&a->conv));
    RD_CUDNN_CHECK(cudnnSetTensor4dDescriptor(a->x, CUDNN_TENSOR_NHWC, dt, k.n, k.ci, k.h, k.w));
    RD_CUDNN_CHECK(cudnnSetTensor4dDescriptor(a->y, CUDNN_TENSOR_NHWC, dt, k.n, k.co, k.ho, k.wo));
    RD_CUDNN_CHECK(cudnnSetFilter4dDescriptor(a->w, dt, CUDNN_TENSOR_NHWC, k.co, k.ci, k.k, k.k));
    // f32 accumulation for every storage type (PSEUDO_HALF / PSEUDO_BFLOAT16 configurations).
    RD_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(a->conv, k.pad, k.pad, k.stride, k.stride, 1, 1,
                                                   CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    a->math = k.dtype == DType::F32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
    RD_CUDNN_CHECK(cudnnSetConvolutionMathType(a->conv, a->math));
    int on = 0, oc = 0, oh = 0, ow = 0;
    RD_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(a->conv, a->x, a->w, &on, &oc, &oh, &ow));
    if (on != k.n || oc != k.co || oh != k.ho || ow != k.wo)
      throw Error("cuda backend: convolution " + k.str() + ": cuDNN gives output " + std::to_string(oh) + "x" +
                      std::to_string(ow) + ", the graph " + std::to_string(k.ho) + "x" + std::to_string(k.wo),
                  1);
    return a;
  }

  // Chooses an algorithm for each new convolution shape: cuDNN's heuristic order, keeping the first
  // candidate that (with our math type) reports a workspace within the cap and runs on scratch
  // buffers; REDDIFF_CUDNN_BENCHMARK=1 times every working candidate instead and keeps the fastest.
  // Returns the largest workspace among them.
  size_t choose_conv_algorithms(const std::vector<std::pair<ConvKey, const Op*>>& todo) {
    const size_t cap = env_size("REDDIFF_CUDNN_WORKSPACE_MB", 512) << 20;
    const bool bench = env_flag("REDDIFF_CUDNN_BENCHMARK");
    const bool force_direct = env_flag("REDDIFF_CONV_DIRECT");  // tests: bypass cuDNN
    size_t xb = 0, yb = 0;
    for (const auto& c : todo) xb = std::max(xb, c.first.x_bytes()), yb = std::max(yb, c.first.y_bytes());
    struct Scratch {
      CudaBackend* b;
      void *x = nullptr, *y = nullptr, *ws = nullptr;
      size_t ws_bytes = 0;
      cudaEvent_t e0 = nullptr, e1 = nullptr;
      ~Scratch() {
        cudaStreamSynchronize(b->stream_);
        b->free(x), b->free(y), b->free(ws);
        if (e0) cudaEventDestroy(e0);
        if (e1) cudaEventDestroy(e1);
      }
    } sc{this};
    sc.x = alloc(xb);
    sc.y = alloc(yb);
    RD_CUDA_CHECK(cudaMemsetAsync(sc.x, 0, xb, stream_));
    RD_CUDA_CHECK(cudaMemsetAsync(sc.y, 0, yb, stream_));
    if (bench) {
      RD_CUDA_CHECK(cudaEventCreate(&sc.e0));
      RD_CUDA_CHECK(cudaEventCreate(&sc.e1));
    }
    size_t most = 0;
    const float one = 1.0f, zero = 0.0f;
    for (const auto& [key, op] : todo) {
      auto a = make_descriptors(key);
      const void* w = filter(op->weight, key.dtype);
      const cudnnMathType_t base_math = a->math;

      // Candidates: the heuristic's list, then every algorithm as a fallback.
      std::vector<cudnnConvolutionFwdAlgo_t> cand;
      std::vector<cudnnMathType_t> cand_math;
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      int returned = 0;
      if (cudnnGetConvolutionForwardAlgorithm_v7(cudnn_, a->x, a->w, a->conv, a->y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                 &returned, perf) != CUDNN_STATUS_SUCCESS)
        returned = 0;  // the fallback list below still tries every algorithm
      for (int i = 0; i < returned; ++i) {
        if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
        cudnnMathType_t m = perf[i].mathType;
        if (key.dtype == DType::F32) {
          if (m == CUDNN_TENSOR_OP_MATH || m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;  // TF32
          m = CUDNN_FMA_MATH;
        }
        cand.push_back(perf[i].algo);
        cand_math.push_back(m);
      }
      for (int i = 0; i < CUDNN_CONVOLUTION_FWD_ALGO_COUNT; ++i) {
        cand.push_back(cudnnConvolutionFwdAlgo_t(i));
        cand_math.push_back(base_math);
      }
      // Last resort for f32 (never expected): cuDNN's default math, which may use TF32 on Ampere+.
      const size_t strict = cand.size();
      if (key.dtype == DType::F32)
        for (int i = 0; i < CUDNN_CONVOLUTION_FWD_ALGO_COUNT; ++i) {
          cand.push_back(cudnnConvolutionFwdAlgo_t(i));
          cand_math.push_back(CUDNN_DEFAULT_MATH);
        }

      bool found = false;
      float best_ms = 0.0f;
      if (force_direct) cand.clear(), cand_math.clear();
      std::string tried;
      for (size_t ci = 0; ci < cand.size(); ++ci) {
        if (ci == strict && found) break;
        if (ci == strict)
          std::fprintf(
              stderr,
              "reddiff: warning: no FMA-only cuDNN algorithm for convolution %s; using default math (TF32 possible)\n",
              key.str().c_str());
        if (cudnnSetConvolutionMathType(a->conv, cand_math[ci]) != CUDNN_STATUS_SUCCESS) continue;
        size_t ws = 0;
        if (cudnnGetConvolutionForwardWorkspaceSize(cudnn_, a->x, a->w, a->conv, a->y, cand[ci], &ws) !=
            CUDNN_STATUS_SUCCESS)
          continue;
        if (ws > cap) continue;
        if (ws > sc.ws_bytes) {
          RD_CUDA_CHECK(cudaStreamSynchronize(stream_));
          free(sc.ws);
          sc.ws = nullptr;
          sc.ws = alloc(ws);
          sc.ws_bytes = ws;
        }
        auto run_once = [&]() {
          return cudnnConvolutionForward(cudnn_, &one, a->x, sc.x, a->w, w, a->conv, cand[ci], sc.ws, ws, &zero, a->y,
                                         sc.y);
        };
        cudnnStatus_t st = run_once();
        if (st != CUDNN_STATUS_SUCCESS) {
          tried +=
              std::string(tried.empty() ? "" : ", ") + std::to_string(int(cand[ci])) + ": " + cudnnGetErrorString(st);
          continue;
        }
        RD_CUDA_CHECK(cudaStreamSynchronize(stream_));
        if (!bench) {
          a->algo = cand[ci], a->math = cand_math[ci], a->workspace = ws;
          found = true;
          break;
        }
        RD_CUDA_CHECK(cudaEventRecord(sc.e0, stream_));
        for (int r = 0; r < 3; ++r)
          if (run_once() != CUDNN_STATUS_SUCCESS) st = CUDNN_STATUS_EXECUTION_FAILED;
        RD_CUDA_CHECK(cudaEventRecord(sc.e1, stream_));
        RD_CUDA_CHECK(cudaEventSynchronize(sc.e1));
        float ms = 0.0f;
        RD_CUDA_CHECK(cudaEventElapsedTime(&ms, sc.e0, sc.e1));
        if (st == CUDNN_STATUS_SUCCESS && (!found || ms < best_ms)) {
          a->algo = cand[ci], a->math = cand_math[ci], a->workspace = ws;
          best_ms = ms;
          found = true;
        }
      }
      if (!found) {
        if (!force_direct)
          std::fprintf(
              stderr,
              "reddiff: warning: cuDNN has no working algorithm for convolution %s%s; using a slow direct kernel\n",
              key.str().c_str(), tried.empty() ? "" : (" (" + tried + ")").c_str());
        a->direct = true;
        a->workspace = 0;
      } else {
        RD_CUDNN_CHECK(cudnnSetConvolutionMathType(a->conv, a->math));
      }
      most = std::max(most, a->workspace);
      convs_[key] = std::move(a);
    }
    return most;
  }

  void conv(const Op& op, const OpTensors& t) {
    const Tensor& x = t.in[0];
    const Tensor& y = t.out;
    ConvKey key = conv_key(op, x.shape, y.shape, x.dtype);
    auto it = convs_.find(key);
    if (it == convs_.end())
      throw Error("cuda backend: convolution " + op.name + " (" + key.str() + ") was not prepared", 1);
    const ConvAlgo& a = *it->second;
    auto fit = filters_.find(std::make_pair(op.weight, x.dtype));
    if (fit == filters_.end()) throw Error("cuda backend: convolution " + op.name + " has no uploaded filter", 1);
    if (a.workspace > workspace_bytes_) throw Error("cuda backend: workspace smaller than prepared", 1);
    if (a.direct) {
      ConvDirectArgs d;
      d.x = x.data, d.w = fit->second.ptr, d.y = y.data, d.dtype = x.dtype;
      d.n = key.n, d.h = key.h, d.w_ = key.w, d.ci = key.ci, d.co = key.co, d.ho = key.ho, d.wo = key.wo;
      d.k = key.k, d.stride = key.stride, d.pad = key.pad;
      conv_direct_cuda(d, stream_);
    } else {
      const float one = 1.0f, zero = 0.0f;
      RD_CUDNN_CHECK(cudnnConvolutionForward(cudnn_, &one, a.x, x.data, a.w, fit->second.ptr, a.conv, a.algo,
                                             a.workspace ? workspace_ : nullptr, a.workspace, &zero, a.y, y.data));
    }
    BiasResidualArgs b;
    b.y = y.data, b.bias = f32_ptr(op.bias), b.residual = t.n_in > 1 ? t.in[1].data : nullptr;
    b.dtype = y.dtype, b.rows = y.dim(0) * y.dim(1) * y.dim(2), b.c = int(y.dim(3));
    bias_residual(Device::CUDA, b, stream_);
  }

  // Backward-data algorithms for new convolution shapes: cuDNN's heuristic order (no TF32 for f32), then
  // every algorithm; the first that runs on scratch buffers within the workspace cap is kept, else the
  // direct kernel. Returns the largest workspace among them.
  size_t choose_conv_bwd_algorithms(const std::vector<std::pair<ConvKey, const Op*>>& todo) {
    const size_t cap = env_size("REDDIFF_CUDNN_WORKSPACE_MB", 512) << 20;
    const bool force_direct = env_flag("REDDIFF_CONV_DIRECT");
    size_t xb = 0, yb = 0;
    for (const auto& c : todo) xb = std::max(xb, c.first.x_bytes()), yb = std::max(yb, c.first.y_bytes());
    struct Scratch {
      CudaBackend* b;
      void *x = nullptr, *y = nullptr, *ws = nullptr;
      size_t ws_bytes = 0;
      ~Scratch() {
        cudaStreamSynchronize(b->stream_);
        b->free(x), b->free(y), b->free(ws);
      }
    } sc{this};
    sc.x = alloc(xb);
    sc.y = alloc(yb);
    RD_CUDA_CHECK(cudaMemsetAsync(sc.x, 0, xb, stream_));
    RD_CUDA_CHECK(cudaMemsetAsync(sc.y, 0, yb, stream_));
    size_t most = 0;
    const float one = 1.0f;
    for (const auto& [key, op] : todo) {
      auto a = std::make_unique<ConvBwdAlgo>();
      a->desc = make_descriptors(key);
      ConvAlgo& d = *a->desc;
      const void* w = filter(op->weight, key.dtype);
      std::vector<cudnnConvolutionBwdDataAlgo_t> cand;
      std::vector<cudnnMathType_t> cand_math;
      cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      int returned = 0;
      if (cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnn_, d.w, d.y, d.conv, d.x,
                                                      CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &returned,
                                                      perf) != CUDNN_STATUS_SUCCESS)
        returned = 0;
      for (int i = 0; i < returned; ++i) {
        if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
        cudnnMathType_t m = perf[i].mathType;
        if (key.dtype == DType::F32) {
          if (m == CUDNN_TENSOR_OP_MATH || m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;  // TF32
          m = CUDNN_FMA_MATH;
        }
        cand.push_back(perf[i].algo);
        cand_math.push_back(m);
      }
      for (int i = 0; i < CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT; ++i) {
        cand.push_back(cudnnConvolutionBwdDataAlgo_t(i));
        cand_math.push_back(d.math);
      }
      if (force_direct) cand.clear(), cand_math.clear();
      bool found = false;
      for (size_t ci = 0; ci < cand.size() && !found; ++ci) {
        if (cudnnSetConvolutionMathType(d.conv, cand_math[ci]) != CUDNN_STATUS_SUCCESS) continue;
        size_t ws = 0;
        if (cudnnGetConvolutionBackwardDataWorkspaceSize(cudnn_, d.w, d.y, d.conv, d.x, cand[ci], &ws) !=
            CUDNN_STATUS_SUCCESS)
          continue;
        if (ws > cap) continue;
        if (ws > sc.ws_bytes) {
          RD_CUDA_CHECK(cudaStreamSynchronize(stream_));
          free(sc.ws);
          sc.ws = nullptr;
          sc.ws = alloc(ws);
          sc.ws_bytes = ws;
        }
        // beta = 1 (on zeros): the VJP accumulates into gradients that already hold a contribution.
        if (cudnnConvolutionBackwardData(cudnn_, &one, d.w, w, d.y, sc.y, d.conv, cand[ci], sc.ws, ws, &one, d.x,
                                         sc.x) != CUDNN_STATUS_SUCCESS)
          continue;
        RD_CUDA_CHECK(cudaStreamSynchronize(stream_));
        a->algo = cand[ci], a->math = cand_math[ci], a->workspace = ws;
        found = true;
      }
      if (!found) {
        if (!force_direct)
          std::fprintf(stderr,
                       "reddiff: warning: cuDNN has no working backward-data algorithm for convolution %s; using a "
                       "slow direct kernel\n",
                       key.str().c_str());
        a->direct = true;
        a->workspace = 0;
      } else {
        RD_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv, a->math));
      }
      most = std::max(most, a->workspace);
      convs_bwd_[key] = std::move(a);
    }
    return most;
  }

  void conv_backward_data(const Op& op, const OpTensors& t) {
    const Tensor& gy = t.in[0];
    const Tensor& gx = t.out;
    ConvKey key = conv_key(op, gx.shape, gy.shape, gx.dtype);
    auto it = convs_bwd_.find(key);
    if (it == convs_bwd_.end())
      throw Error("cuda backend: convolution backward " + op.name + " (" + key.str() + ") was not prepared", 1);
    const ConvBwdAlgo& a = *it->second;
    auto fit = filters_.find(std::make_pair(op.weight, gx.dtype));
    if (fit == filters_.end())
      throw Error("cuda backend: convolution backward " + op.name + " has no uploaded filter", 1);
    if (a.workspace > workspace_bytes_) throw Error("cuda backend: workspace smaller than prepared", 1);
    if (a.direct) {
      ConvBackwardDataDirectArgs d;
      d.gy = gy.data, d.w = fit->second.ptr, d.gx = gx.data, d.dtype = gx.dtype;
      d.n = key.n, d.h = key.h, d.w_ = key.w, d.ci = key.ci, d.co = key.co, d.ho = key.ho, d.wo = key.wo;
      d.k = key.k, d.stride = key.stride, d.pad = key.pad, d.accumulate = op.accumulate;
      conv_backward_data_direct_cuda(d, stream_);
      return;
    }
    const float one = 1.0f, beta = op.accumulate ? 1.0f : 0.0f;
    const ConvAlgo& d = *a.desc;
    RD_CUDNN_CHECK(cudnnConvolutionBackwardData(cudnn_, &one, d.w, fit->second.ptr, d.y, gy.data, d.conv, a.algo,
                                                a.workspace ? workspace_ : nullptr, a.workspace, &beta, d.x, gx.data));
  }

  void linear(const Op& op, const OpTensors& t) {
    const Tensor& x = t.in[0];
    if (x.dtype != DType::F32 || t.out.dtype != DType::F32) throw Error("cuda backend: linear layers are f32", 1);
    int n = int(x.dim(0)), in = int(x.dim(1)), out = int(t.out.dim(1));
    const float* xp = x.as<float>();
    if (op.silu) {
      if (x.nbytes() > workspace_bytes_) throw Error("cuda backend: linear " + op.name + " was not prepared", 1);
      SiluArgs s;
      s.x = xp, s.y = static_cast<float*>(workspace_), s.n = x.numel();
      silu(Device::CUDA, s, stream_);
      xp = s.y;
    }
    const float one = 1.0f, zero = 0.0f;
    // Row-major y[n, out] = x[n, in] W[out, in]^T, i.e. column-major y^T = W^T(op T) x^T.
    cublasHandle_t h = cuda_blas_handle(stream_);
    RD_CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, f32_ptr(op.weight), in, xp, in, &zero,
                                t.out.as<float>(), out));
    BiasResidualArgs b;
    b.y = t.out.data, b.bias = f32_ptr(op.bias), b.dtype = DType::F32, b.rows = n, b.c = out;
    bias_residual(Device::CUDA, b, stream_);
  }

  // Same check as the CPU backend; skipped while a stream capture is recording (no host sync allowed).
  void check_labels(const int32_t* labels, int n, int classes) {
    cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
    RD_CUDA_CHECK(cudaStreamIsCapturing(stream_, &cs));
    if (cs != cudaStreamCaptureStatusNone) return;
    std::vector<int32_t> h(size_t(std::max(n, 0)));
    download(h.data(), labels, h.size() * sizeof(int32_t));
    for (int32_t v : h)
      if (v < 0 || v >= classes)
        throw Error("class label " + std::to_string(v) + " is outside [0, " + std::to_string(classes) + ")");
  }

  int dev_;
  cudaDeviceProp prop_{};
  cudaStream_t stream_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  std::string name_;
  std::map<std::pair<const Param*, DType>, DeviceWeight> filters_;
  std::map<const Param*, DeviceWeight> f32_;
  std::map<ConvKey, std::unique_ptr<ConvAlgo>> convs_;
  std::map<ConvKey, std::unique_ptr<ConvBwdAlgo>> convs_bwd_;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  size_t weight_bytes_ = 0;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(int device_index) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count <= 0) {
    cudaGetLastError();
    throw Error("no CUDA device found");
  }
  if (device_index < 0 || device_index >= count)
    throw Error("CUDA device " + std::to_string(device_index) + " does not exist (" + std::to_string(count) +
                " device" + (count == 1 ? "" : "s") + ")");
  return std::make_unique<CudaBackend>(device_index);
}

bool cuda_available() {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the error so it does not surface at a later check
    return false;
  }
  return count > 0;
}

}  // namespace reddiff
