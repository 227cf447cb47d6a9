// The CPU backend: f32 activations in NHWC; convolutions and linear layers as OpenBLAS GEMMs
// (im2col in row tiles for k > 1), everything else through the CPU twins in kernels/.
// Threading: one OpenMP pool. OpenBLAS runs single-threaded inside it (two pools spinning against
// each other on few cores cost more than they gain); convolutions split their output rows into
// tiles that threads take, each tile one im2col + GEMM, and where there are too few tiles to go round,
// each tile's output channels into parts.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "base/error.h"
#include "engine/backend.h"
#include "engine/cpu/cpu_info.h"
#include "engine/cpu/onednn_conv.h"
#include "engine/model.h"
#include "engine/op_args.h"
#include "kernels/cpu_gemm.h"
#include "kernels/network/attention.h"
#include "kernels/network/embedding.h"
#include "kernels/network/group_norm.h"
#include "kernels/network/resample.h"

extern "C" void openblas_set_num_threads(int);

namespace reddiff {

namespace {

class CpuBackend : public Backend {
 public:
  explicit CpuBackend(int threads) {
    apply_cpu_isa_limit();
    if (threads > 0) omp_set_num_threads(threads);
    openblas_set_num_threads(1);
    threads_ = threads > 0 ? threads : omp_get_max_threads();
    if (cpu_conv_path() == CpuConvPath::OneDnn) dnn_ = std::make_unique<OnednnConv>();
  }
  Device device() const override { return Device::CPU; }
  std::string name() const override {
    return "cpu (" + std::to_string(threads_) + " threads, " + cpu_kernel_set() + ")";
  }
  bool supports(DType act) const override {
    return act == DType::F32 || (act == DType::BF16 && dnn_ && onednn_has_bf16());
  }

  void* alloc(size_t bytes) override {
    void* p = std::aligned_alloc(64, std::max<size_t>(64, (bytes + 63) / 64 * 64));
    if (!p) throw std::bad_alloc();
    return p;
  }
  void free(void* p) override { std::free(p); }
  void upload(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void download(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copy(void* dst, const void* src, size_t bytes, Stream) override {
    if (bytes && dst != src) std::memmove(dst, src, bytes);
  }
  void sync_stream(Stream) override {}
  void synchronize() override {}

  size_t prepare(const Graph& g, const ModelWeights&) override {
    size_t before = scratch_bytes();
    for (const Op& op : g.ops) {
      if (dnn_ && (op.kind == OpKind::Conv2d || op.kind == OpKind::Conv2dBackwardData)) {
        dnn_->prepare(g, op);
      } else if (op.kind == OpKind::Conv2d) {
        conv_weight(op.weight);
        const Value& x = g.value(op.inputs[0]);
        size_t k = size_t(op.kernel) * op.kernel * size_t(x.shape[3]);
        if (op.kernel > 1 || op.stride > 1) col_.resize(std::max(col_.size(), kTileRows * k * size_t(threads_)));
      } else if (op.kind == OpKind::Conv2dBackwardData) {
        conv_weight_t(op.weight);
        const Value& gy = g.value(op.inputs[0]);
        size_t k = size_t(op.kernel) * op.kernel * size_t(gy.shape[3]);
        if (op.kernel > 1 || op.stride > 1) col_.resize(std::max(col_.size(), kTileRows * k * size_t(threads_)));
      } else if (op.kind == OpKind::Attention) {
        const Value& y = g.value(op.output);
        size_t b = attention_workspace_bytes(Device::CPU, int(y.shape[0]), int(y.shape[1] * y.shape[2]),
                                             int(y.shape[3]), op.heads, y.dtype);
        attn_.resize(std::max(attn_.size(), b / sizeof(float)));
      } else if (op.kind == OpKind::AttentionBackward) {
        const Value& gy = g.value(op.inputs[1]);
        size_t b = attention_backward_workspace_bytes(Device::CPU, int(gy.shape[0]), int(gy.shape[1] * gy.shape[2]),
                                                      int(gy.shape[3]), op.heads, gy.dtype);
        attn_.resize(std::max(attn_.size(), b / sizeof(float)));
      } else if (op.kind == OpKind::Linear && op.silu) {
        silu_.resize(std::max(silu_.size(), size_t(g.value(op.inputs[0]).bytes() / sizeof(float))));
      }
    }
    return scratch_bytes() - before;
  }

  void release_weights(const ModelWeights& w) override {
    for (const auto& kv : w.params) {
      weights_.erase(&kv.second), weights_t_.erase(&kv.second);
      if (dnn_) dnn_->release(&kv.second);
    }
  }

  void run(const Graph& g, const Op& op, const OpTensors& t) override {
    switch (op.kind) {
      case OpKind::Conv2d:
        if (dnn_) return dnn_->forward(op, t.in[0], t.n_in > 1 ? &t.in[1] : nullptr, t.out);
        return conv(op, t);
      case OpKind::Linear:
        return linear(op, t);
      case OpKind::GroupNorm:
        return group_norm(Device::CPU, group_norm_args(op, t, op.weight->data.data(), op.bias->data.data()), nullptr);
      case OpKind::Attention:
        return attention(Device::CPU, attention_args(op, t, attn_.data()), nullptr);
      case OpKind::AvgPool2:
        return avg_pool2(Device::CPU, resample_args(t), nullptr);
      case OpKind::Upsample2:
        return upsample_nearest2(Device::CPU, resample_args(t), nullptr);
      case OpKind::Concat:
        return concat_channels(Device::CPU, concat_args(t), nullptr);
      case OpKind::InputPad:
        return input_pad(Device::CPU, input_pad_args(g, t), nullptr);
      case OpKind::OutputCrop:
        return output_crop(Device::CPU, output_crop_args(g, t), nullptr);
      case OpKind::TimestepEmbed:
        return timestep_embedding(Device::CPU, timestep_embed_args(t), nullptr);
      case OpKind::LabelEmbedAdd: {
        std::memcpy(t.out.data, t.in[0].data, t.out.nbytes());
        LabelEmbedArgs a = label_embed_args(t, op.weight->data.data());
        for (int i = 0; i < a.n; ++i)
          if (a.labels[i] < 0 || a.labels[i] >= int(op.weight->shape[0]))
            throw Error("class label " + std::to_string(a.labels[i]) + " is outside [0, " +
                        std::to_string(op.weight->shape[0]) + ")");
        return label_embedding_add(Device::CPU, a, nullptr);
      }
      case OpKind::Conv2dBackwardData:
        if (dnn_) return dnn_->backward_data(op, t.in[0], t.out);
        return conv_backward_data(op, t);
      case OpKind::GroupNormBackward:
        return group_norm_backward(
            Device::CPU, group_norm_backward_args(op, t, op.weight->data.data(), op.bias->data.data()), nullptr);
      case OpKind::AttentionBackward:
        return attention_backward(Device::CPU, attention_backward_args(op, t, attn_.data()), nullptr);
      case OpKind::AvgPool2Backward:
        return avg_pool2_backward(Device::CPU, resample_backward_args(op, t), nullptr);
      case OpKind::Upsample2Backward:
        return upsample_nearest2_backward(Device::CPU, resample_backward_args(op, t), nullptr);
      case OpKind::ChannelSlice:
        return channel_slice(Device::CPU, channel_slice_args(op, t), nullptr);
      case OpKind::GradAdd:
        return grad_add(Device::CPU, grad_add_args(t), nullptr);
      case OpKind::InputPadBackward:
        return input_pad_backward(Device::CPU, input_pad_backward_args(g, op, t), nullptr);
      case OpKind::OutputCropBackward:
        return output_crop_backward(Device::CPU, output_crop_backward_args(g, op, t), nullptr);
    }
  }

 private:
  size_t scratch_bytes() const { return (col_.size() + attn_.size() + silu_.size()) * sizeof(float); }

  static constexpr size_t kTileRows = 256;  // output pixels per im2col tile

  // The jobs of one convolution GEMM (forward or backward-data) over n images of `rows` pixels and
  // `channels` output columns: tiles of kTileRows pixels, and each tile's columns in `splits` parts.
  // The parts are 1 while the tiles alone give every thread two jobs; more for the low-resolution layers
  // (a few pixels, hundreds of channels), where a single tile would leave the other threads idle. Parts
  // keep at least 64 channels.
  struct GemmJob {
    int b;           // image
    int64_t r0, nr;  // pixels [r0, r0 + nr) of that image
    int c0, nc;      // columns [c0, c0 + nc); nc <= 0: nothing to do
  };
  struct GemmJobs {
    int64_t rows, tiles, count;
    int channels, splits, chunk;
    GemmJob at(int64_t job) const {
      GemmJob j;
      int64_t tile = job / splits;
      j.b = int(tile / tiles);
      j.r0 = (tile % tiles) * int64_t(kTileRows), j.nr = std::min<int64_t>(int64_t(kTileRows), rows - j.r0);
      j.c0 = int(job % splits) * chunk, j.nc = std::min(chunk, channels - j.c0);
      return j;
    }
  };
  GemmJobs gemm_jobs(int n, int64_t rows, int channels) const {
    GemmJobs g;
    g.rows = rows, g.tiles = (rows + int64_t(kTileRows) - 1) / int64_t(kTileRows), g.channels = channels;
    int64_t tiles = int64_t(n) * g.tiles;
    g.splits = 1;
    if (threads_ >= 2 && tiles > 0 && tiles < 2 * int64_t(threads_)) {
      int64_t want = (2 * int64_t(threads_) + tiles - 1) / tiles;
      g.splits = int(std::max<int64_t>(1, std::min<int64_t>(want, channels / 64)));
    }
    g.chunk = (channels + g.splits - 1) / g.splits;
    g.count = tiles * g.splits;
    return g;
  }

  // OIHW -> O x (kh, kw, I): one GEMM row per output channel, matching the NHWC im2col.
  const std::vector<float>& conv_weight(const Param* p) {
    auto it = weights_.find(p);
    if (it != weights_.end()) return it->second;
    int64_t o = p->shape[0], i = p->shape[1], k = p->shape.size() == 4 ? p->shape[2] : 1;
    std::vector<float> w(size_t(o * i * k * k));
    for (int64_t oo = 0; oo < o; ++oo)
      for (int64_t ii = 0; ii < i; ++ii)
        for (int64_t kh = 0; kh < k; ++kh)
          for (int64_t kw = 0; kw < k; ++kw)
            w[size_t(((oo * k + kh) * k + kw) * i + ii)] = p->data[size_t(((oo * i + ii) * k + kh) * k + kw)];
    return weights_[p] = std::move(w);
  }

  // OIHW -> (kh, kw, O) x I: the transposed layout of the backward-data GEMM (gx rows = input pixels).
  const std::vector<float>& conv_weight_t(const Param* p) {
    auto it = weights_t_.find(p);
    if (it != weights_t_.end()) return it->second;
    int64_t o = p->shape[0], i = p->shape[1], k = p->shape.size() == 4 ? p->shape[2] : 1;
    std::vector<float> w(size_t(o * i * k * k));
    for (int64_t oo = 0; oo < o; ++oo)
      for (int64_t ii = 0; ii < i; ++ii)
        for (int64_t kh = 0; kh < k; ++kh)
          for (int64_t kw = 0; kw < k; ++kw)
            w[size_t(((kh * k + kw) * o + oo) * i + ii)] = p->data[size_t(((oo * i + ii) * k + kh) * k + kw)];
    return weights_t_[p] = std::move(w);
  }

  // gx = conv^T(gy): per tile of input pixels, gather the output-gradient pixels each one fed (zeros
  // where the stride or the border leaves none) and multiply by the transposed weights; no scatter.
  void conv_backward_data(const Op& op, const OpTensors& t) {
    const Tensor& gy = t.in[0];
    const Tensor& gx = t.out;
    const std::vector<float>& w = conv_weight_t(op.weight);
    int n = int(gx.dim(0)), h = int(gx.dim(1)), wd = int(gx.dim(2)), ci = int(gx.dim(3));
    int ho = int(gy.dim(1)), wo = int(gy.dim(2)), co = int(gy.dim(3)), k = op.kernel, s = op.stride, pad = op.pad;
    int kdim = k * k * co;
    bool direct = k == 1 && s == 1;
    float beta = op.accumulate ? 1.0f : 0.0f;
    int64_t rows = int64_t(h) * wd;
    const GemmJobs jobs = gemm_jobs(n, rows, ci);
#pragma omp parallel for schedule(dynamic)
    for (int64_t job = 0; job < jobs.count; ++job) {
      const GemmJob jb = jobs.at(job);
      if (jb.nc <= 0) continue;
      const int b = jb.b, c0 = jb.c0, nc = jb.nc;
      const int64_t r0 = jb.r0, nr = jb.nr;
      const float* gyb = gy.as<float>() + int64_t(b) * ho * wo * co;
      float* gxt = gx.as<float>() + (int64_t(b) * rows + r0) * ci;
      const float* a = gyb + r0 * co;
      if (!direct) {
        float* col = col_.data() + kTileRows * size_t(kdim) * size_t(omp_get_thread_num());
        for (int64_t r = 0; r < nr; ++r) {
          int i = int((r0 + r) / wd), j = int((r0 + r) % wd);
          for (int kh = 0; kh < k; ++kh) {
            int ni = i + pad - kh, oi = ni / s;
            bool row_ok = ni >= 0 && ni % s == 0 && oi < ho;
            for (int kw = 0; kw < k; ++kw) {
              int nj = j + pad - kw, oj = nj / s;
              float* dst = col + r * kdim + (kh * k + kw) * co;
              if (!row_ok || nj < 0 || nj % s || oj >= wo)
                std::memset(dst, 0, sizeof(float) * size_t(co));
              else
                std::memcpy(dst, gyb + (int64_t(oi) * wo + oj) * co, sizeof(float) * size_t(co));
            }
          }
        }
        a = col;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(nr), nc, kdim, 1.0f, a, kdim, w.data() + c0, ci, beta,
                  gxt + c0, ci);
    }
  }

  void conv(const Op& op, const OpTensors& t) {
    const Tensor& x = t.in[0];
    const Tensor& y = t.out;
    const std::vector<float>& w = conv_weight(op.weight);
    int n = int(x.dim(0)), h = int(x.dim(1)), wd = int(x.dim(2)), ci = int(x.dim(3));
    int ho = int(y.dim(1)), wo = int(y.dim(2)), co = int(y.dim(3)), k = op.kernel, s = op.stride, pad = op.pad;
    int kdim = k * k * ci;
    bool direct = k == 1 && s == 1;  // a 1x1 conv is a GEMM on the input itself
    int64_t rows = int64_t(ho) * wo;
    const GemmJobs jobs = gemm_jobs(n, rows, co);
#pragma omp parallel for schedule(dynamic)
    for (int64_t job = 0; job < jobs.count; ++job) {
      const GemmJob j = jobs.at(job);
      if (j.nc <= 0) continue;
      const int b = j.b, c0 = j.c0, nc = j.nc;
      const int64_t r0 = j.r0, nr = j.nr;
      const float* xb = x.as<float>() + int64_t(b) * h * wd * ci;
      float* yt = y.as<float>() + (int64_t(b) * rows + r0) * co;
      const float* a = xb + r0 * ci;
      if (!direct) {
        float* col = col_.data() + kTileRows * size_t(kdim) * size_t(omp_get_thread_num());
        for (int64_t r = 0; r < nr; ++r) {
          int oi = int((r0 + r) / wo), oj = int((r0 + r) % wo);
          for (int kh = 0; kh < k; ++kh) {
            int ii = oi * s - pad + kh;
            for (int kw = 0; kw < k; ++kw) {
              int jj = oj * s - pad + kw;
              float* dst = col + r * kdim + (kh * k + kw) * ci;
              if (ii < 0 || ii >= h || jj < 0 || jj >= wd)
                std::memset(dst, 0, sizeof(float) * size_t(ci));
              else
                std::memcpy(dst, xb + (int64_t(ii) * wd + jj) * ci, sizeof(float) * size_t(ci));
            }
          }
        }
        a = col;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(nr), nc, kdim, 1.0f, a, kdim,
                  w.data() + size_t(c0) * kdim, kdim, 0.0f, yt + c0, co);
    }
    BiasResidualArgs a;
    a.y = y.data, a.bias = op.bias->data.data(), a.residual = t.n_in > 1 ? t.in[1].data : nullptr;
    a.dtype = DType::F32, a.rows = int64_t(n) * rows, a.c = co;
    bias_residual(Device::CPU, a, nullptr);
  }

  void linear(const Op& op, const OpTensors& t) {
    const Tensor& x = t.in[0];
    int n = int(x.dim(0)), in = int(x.dim(1)), out = int(t.out.dim(1));
    const float* xp = x.as<float>();
    if (op.silu) {
      SiluArgs s;
      s.x = xp, s.y = silu_.data(), s.n = x.numel();
      silu(Device::CPU, s, nullptr);
      xp = silu_.data();
    }
    float* y = t.out.as<float>();
    for (int b = 0; b < n; ++b) std::memcpy(y + int64_t(b) * out, op.bias->data.data(), sizeof(float) * size_t(out));
    // One GEMM row per image: a GEMM may sum an 8-row product differently from a 1- or 2-row one, and a
    // result must not depend on its batch (tests/engine/test_ops_reference.cpp). These layers are tiny.
    for (int b = 0; b < n; ++b)
      sgemm_cpu(false, true, 1, out, in, 1.0f, xp + int64_t(b) * in, in, op.weight->data.data(), in, 1.0f,
                y + int64_t(b) * out, out);
  }

  int threads_;
  std::unique_ptr<OnednnConv> dnn_;
  std::map<const Param*, std::vector<float>> weights_, weights_t_;
  std::vector<float> col_, attn_, silu_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads) { return std::make_unique<CpuBackend>(threads); }

}  // namespace reddiff
