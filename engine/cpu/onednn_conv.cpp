// oneDNN convolutions for the CPU backend (engine/cpu/onednn_conv.h).
//
// One primitive per distinct convolution shape, built when a plan is prepared; weights reordered once per
// (parameter, layout); one user-managed scratchpad shared by every primitive (the backend runs one op at a
// time), so running a plan allocates nothing. Threads: oneDNN's OpenMP runtime, the backend's one pool.
// Primitives are built for one image and run image by image: oneDNN may block and split its sums
// differently for other batch sizes, and a result must not depend on --batch-size (bit for bit).
#include "engine/cpu/onednn_conv.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "engine/cpu/cpu_info.h"
#include "engine/model.h"
#include "kernels/cpu_storage.h"

namespace reddiff {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
using dims = dnnl::memory::dims;

// One image's convolution: the forward one's input x [h, w, ci] and output y [ho, wo, co], and dtypes.
struct ConvShape {
  int64_t ci, h, w, co, ho, wo, k, s, p;
  DType x_dtype, y_dtype, residual_dtype;  // residual_dtype: F64 when there is none
  bool backward;
  auto key() const { return std::tie(ci, h, w, co, ho, wo, k, s, p, x_dtype, y_dtype, residual_dtype, backward); }
  bool operator<(const ConvShape& o) const { return key() < o.key(); }
};

struct ConvPrim {
  dnnl::primitive prim;
  dnnl::memory::desc src_md, wei_md, dst_md, res_md;  // backward: src = diff_dst, dst = diff_src
};

dt to_dnnl(DType t) {
  switch (t) {
    case DType::F32:
      return dt::f32;
    case DType::BF16:
      return dt::bf16;
    default:
      throw Error(std::string("the CPU convolutions take f32 or bf16 activations, not ") + dtype_name(t), 1);
  }
}

dnnl::memory::desc nhwc(int64_t c, int64_t h, int64_t w, DType t) {
  return dnnl::memory::desc(dims{1, c, h, w}, to_dnnl(t), tag::nhwc);
}

ConvShape shape_of(const Op& op, const std::vector<int64_t>& x, DType xt, const std::vector<int64_t>& y, DType yt,
                   DType residual) {
  ConvShape s;
  s.h = x[1], s.w = x[2], s.ci = x[3];
  s.ho = y[1], s.wo = y[2], s.co = y[3];
  s.k = op.kernel, s.s = op.stride, s.p = op.pad;
  s.x_dtype = xt, s.y_dtype = yt, s.residual_dtype = residual;
  s.backward = op.kind == OpKind::Conv2dBackwardData;
  return s;
}

}  // namespace

struct OnednnConv::Impl {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  std::map<ConvShape, ConvPrim> prims;
  // Converted weights: per parameter, one memory per layout a primitive asked for.
  std::map<const Param*, std::vector<std::pair<dnnl::memory::desc, dnnl::memory>>> weights;
  std::map<const Param*, dnnl::memory> biases;
  std::vector<uint8_t> scratchpad;  // oneDNN's scratch, shared
  std::vector<uint8_t> acc;         // one image's backward-data result before it is added (accumulate)
  size_t weight_bytes = 0;

  // The forward convolution's descriptor (also the hint of the backward-data primitive).
  dnnl::convolution_forward::primitive_desc forward_pd(const ConvShape& s, dnnl::prop_kind prop) {
    const dims strides{s.s, s.s}, pad_l{s.p, s.p};
    // Right padding so that the output has exactly ho x wo pixels.
    const dims pad_r{(s.ho - 1) * s.s + s.k - s.h - s.p, (s.wo - 1) * s.s + s.k - s.w - s.p};
    const DType act = s.backward ? s.y_dtype : s.x_dtype;  // the dtype the products are taken in
    auto src = nhwc(s.ci, s.h, s.w, act);
    auto wei = dnnl::memory::desc(dims{s.co, s.ci, s.k, s.k}, to_dnnl(act), tag::any);
    auto bias = dnnl::memory::desc(dims{s.co}, dt::f32, tag::x);
    auto dst = nhwc(s.co, s.ho, s.wo, s.backward ? act : s.y_dtype);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (!s.backward && s.residual_dtype != DType::F64) {
      dnnl::post_ops po;
      po.append_binary(dnnl::algorithm::binary_add, nhwc(s.co, s.ho, s.wo, s.residual_dtype));
      attr.set_post_ops(po);
    }
    auto d = dnnl::convolution_forward::desc(prop, dnnl::algorithm::convolution_direct, src, wei, bias, dst, strides,
                                             pad_l, pad_r);
    return dnnl::convolution_forward::primitive_desc(d, attr, eng);
  }

  ConvPrim& build(const ConvShape& s) {
    auto it = prims.find(s);
    if (it != prims.end()) return it->second;
    ConvPrim c;
    try {
      if (!s.backward) {
        auto pd = forward_pd(s, dnnl::prop_kind::forward_inference);
        c.prim = dnnl::convolution_forward(pd);
        c.src_md = pd.src_desc(), c.wei_md = pd.weights_desc(), c.dst_md = pd.dst_desc();
        if (s.residual_dtype != DType::F64) c.res_md = nhwc(s.co, s.ho, s.wo, s.residual_dtype);
        grow(scratchpad, pd.scratchpad_desc().get_size());
      } else {
        // gx [h, w, ci] from gy [ho, wo, co]; both in the activation dtype.
        auto hint = forward_pd(s, dnnl::prop_kind::forward_training);
        const dims strides{s.s, s.s}, pad_l{s.p, s.p};
        const dims pad_r{(s.ho - 1) * s.s + s.k - s.h - s.p, (s.wo - 1) * s.s + s.k - s.w - s.p};
        auto diff_src = nhwc(s.ci, s.h, s.w, s.x_dtype);
        auto wei = dnnl::memory::desc(dims{s.co, s.ci, s.k, s.k}, to_dnnl(s.y_dtype), tag::any);
        auto diff_dst = nhwc(s.co, s.ho, s.wo, s.y_dtype);
        dnnl::primitive_attr attr;
        attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
        auto d = dnnl::convolution_backward_data::desc(dnnl::algorithm::convolution_direct, diff_src, wei, diff_dst,
                                                       strides, pad_l, pad_r);
        auto pd = dnnl::convolution_backward_data::primitive_desc(d, attr, eng, hint);
        c.prim = dnnl::convolution_backward_data(pd);
        c.src_md = pd.diff_dst_desc(), c.wei_md = pd.weights_desc(), c.dst_md = pd.diff_src_desc();
        grow(scratchpad, pd.scratchpad_desc().get_size());
        grow(acc, size_t(s.h * s.w * s.ci) * dtype_size(s.x_dtype));
      }
    } catch (const dnnl::error& e) {
      throw Error("oneDNN has no " + std::string(dtype_name(s.backward ? s.y_dtype : s.x_dtype)) + " convolution " +
                      std::to_string(s.k) + "x" + std::to_string(s.k) + " for this CPU (" + e.what() + ")",
                  1);
    }
    return prims[s] = std::move(c);
  }

  static void grow(std::vector<uint8_t>& v, size_t bytes) {
    if (v.size() < bytes) v.resize(bytes);
  }

  // The parameter's weights in the layout `md` asks for (converted on first use).
  dnnl::memory& weights_for(const Param* p, const dnnl::memory::desc& md) {
    auto& list = weights[p];
    for (auto& e : list)
      if (e.first == md) return e.second;
    const int64_t o = p->shape[0], i = p->shape[1], k = p->shape.size() == 4 ? p->shape[2] : 1;
    dnnl::memory::desc user(dims{o, i, k, k}, dt::f32, tag::oihw);
    dnnl::memory src(user, eng, const_cast<float*>(p->data.data()));
    dnnl::memory dst(md, eng);
    dnnl::reorder(src, dst).execute(strm, src, dst);
    strm.wait();
    weight_bytes += md.get_size();
    list.emplace_back(md, dst);
    return list.back().second;
  }

  dnnl::memory bias_for(const Param* p) {
    auto it = biases.find(p);
    if (it != biases.end()) return it->second;
    dnnl::memory::desc md(dims{int64_t(p->data.size())}, dt::f32, tag::x);
    return biases[p] = dnnl::memory(md, eng, const_cast<float*>(p->data.data()));
  }

  dnnl::memory scratch() {
    dnnl::memory::desc md(dims{int64_t(scratchpad.size())}, dt::u8, tag::x);
    return dnnl::memory(md, eng, scratchpad.data());
  }
};

OnednnConv::OnednnConv() : impl_(std::make_unique<Impl>()) {}
OnednnConv::~OnednnConv() = default;

void OnednnConv::prepare(const Graph& g, const Op& op) {
  const Value& in = g.value(op.inputs[0]);
  const Value& out = g.value(op.output);
  ConvShape s;
  if (op.kind == OpKind::Conv2dBackwardData)
    s = shape_of(op, out.shape, out.dtype, in.shape, in.dtype, DType::F64);
  else
    s = shape_of(op, in.shape, in.dtype, out.shape, out.dtype,
                 op.inputs.size() > 1 ? g.value(op.inputs[1]).dtype : DType::F64);
  ConvPrim& c = impl_->build(s);
  impl_->weights_for(op.weight, c.wei_md);
}

void OnednnConv::forward(const Op& op, const Tensor& x, const Tensor* residual, const Tensor& y) {
  Impl& m = *impl_;
  const ConvShape s = shape_of(op, x.shape, x.dtype, y.shape, y.dtype, residual ? residual->dtype : DType::F64);
  ConvPrim& c = m.build(s);
  const dnnl::memory& wei = m.weights_for(op.weight, c.wei_md);
  const dnnl::memory bias = m.bias_for(op.bias), scratch = m.scratch();
  const size_t x_image = size_t(s.h * s.w * s.ci) * dtype_size(s.x_dtype),
               y_image = size_t(s.ho * s.wo * s.co) * dtype_size(s.y_dtype);
  for (int64_t b = 0; b < x.dim(0); ++b) {
    std::unordered_map<int, dnnl::memory> args{
        {DNNL_ARG_SRC, dnnl::memory(c.src_md, m.eng, static_cast<char*>(x.data) + size_t(b) * x_image)},
        {DNNL_ARG_WEIGHTS, wei},
        {DNNL_ARG_BIAS, bias},
        {DNNL_ARG_DST, dnnl::memory(c.dst_md, m.eng, static_cast<char*>(y.data) + size_t(b) * y_image)},
        {DNNL_ARG_SCRATCHPAD, scratch}};
    if (residual) {
      const size_t r_image = size_t(s.ho * s.wo * s.co) * dtype_size(residual->dtype);
      args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1,
                   dnnl::memory(c.res_md, m.eng, static_cast<char*>(residual->data) + size_t(b) * r_image));
    }
    c.prim.execute(m.strm, args);
  }
  m.strm.wait();
}

void OnednnConv::backward_data(const Op& op, const Tensor& gy, const Tensor& gx) {
  Impl& m = *impl_;
  const ConvShape s = shape_of(op, gx.shape, gx.dtype, gy.shape, gy.dtype, DType::F64);
  ConvPrim& c = m.build(s);
  const dnnl::memory& wei = m.weights_for(op.weight, c.wei_md);
  const dnnl::memory scratch = m.scratch();
  const int64_t x_count = s.h * s.w * s.ci;
  const size_t x_image = size_t(x_count) * dtype_size(s.x_dtype),
               y_image = size_t(s.ho * s.wo * s.co) * dtype_size(s.y_dtype);
  for (int64_t b = 0; b < gx.dim(0); ++b) {
    char* gxb = static_cast<char*>(gx.data) + size_t(b) * x_image;
    void* target = op.accumulate ? static_cast<void*>(m.acc.data()) : gxb;
    c.prim.execute(
        m.strm, {{DNNL_ARG_DIFF_DST, dnnl::memory(c.src_md, m.eng, static_cast<char*>(gy.data) + size_t(b) * y_image)},
                 {DNNL_ARG_WEIGHTS, wei},
                 {DNNL_ARG_DIFF_SRC, dnnl::memory(c.dst_md, m.eng, target)},
                 {DNNL_ARG_SCRATCHPAD, scratch}});
    m.strm.wait();
    if (op.accumulate) {
      dispatch_storage(s.x_dtype, [&](auto st) {
        using S = decltype(st);
        auto* out = reinterpret_cast<typename S::T*>(gxb);
        const auto* add = reinterpret_cast<const typename S::T*>(m.acc.data());
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < x_count; ++i) S::store(out, i, S::load(out, i) + S::load(add, i));
      });
    }
  }
}

void OnednnConv::release(const Param* p) {
  auto it = impl_->weights.find(p);
  if (it != impl_->weights.end()) {
    for (auto& e : it->second) impl_->weight_bytes -= e.first.get_size();
    impl_->weights.erase(it);
  }
  impl_->biases.erase(p);
}

size_t OnednnConv::bytes() const { return impl_->scratchpad.size() + impl_->acc.size() + impl_->weight_bytes; }

std::string onednn_description() {
  const dnnl_version_t* v = dnnl_version();
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) + " (" +
         cpu_isa_name() + ")";
}

bool onednn_has_bf16() {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

}  // namespace reddiff
