// Dequantisation (the official quant{N}): the operator bound to an N-bit image (operators/bins.h,
// docs/tasks.md). Level k of L = 2^N - 1 has the value c = 2k/L - 1 and the bin [c - 1/L, c + 1/L] in [-1, 1]
// units (open below level 0 and above level L: values beyond the range saturate there).
//   interval: apply A(x) = c + d(x), d the signed distance of each pixel past its bin; vjp [d != 0] r;
//             residual_vjp J^T (A(x) - y) fused; pinv identity (the bin centres).
//   l2:       apply A(x) = the nearest level (the official quantiser); vjp r (straight-through); pinv identity.
#include "kernels/operator/jpeg.h"
#include "operators/bins.h"
#include "operators/op_impl.h"

namespace reddiff {
namespace {

class QuantOperator final : public OperatorBase {
 public:
  QuantOperator(Shape4 x, Backend& be, int levels, const std::vector<float>& centre, bool l2, std::string desc)
      : OperatorBase(x, x, be),
        levels_(levels),
        l2_(l2),
        desc_(std::move(desc)),
        centre_(DeviceBuffer::from_host(be, centre)) {}

  std::string describe() const override { return desc_; }
  bool is_linear() const override { return false; }
  void apply(const float* x, float* y, void* s) const override {
    bins(x, nullptr, y, l2_ ? BinEpilogue::Round : BinEpilogue::Apply, s);
  }
  void vjp(const float* x, const float* r, float* g, void* s) const override {
    if (l2_)
      copy(g, r, xs_.numel(), s);
    else
      bins(x, r, g, BinEpilogue::Mask, s);
  }
  void pinv(const float* y, float* x, void* s) const override { copy(x, y, xs_.numel(), s); }
  void residual_vjp(const float* x, const float* y, float* g, void* s) const override {
    if (l2_)
      OperatorBase::residual_vjp(x, y, g, s);
    else
      bins(x, y, g, BinEpilogue::Residual, s);
  }

 private:
  void bins(const float* x, const float* in, float* out, BinEpilogue e, void* s) const {
    QuantBinArgs a;
    a.x = x;
    a.centre = centre_.as<float>();
    a.in = in;
    a.out = out;
    a.count = xs_.numel();
    a.levels = levels_;
    a.epilogue = e;
    ops_quant_bins(dev_, a, s);
  }
  int levels_;
  bool l2_;
  std::string desc_;
  DeviceBuffer centre_;
};

}  // namespace

std::unique_ptr<Operator> make_quant_operator(const OperatorOptions& o, Shape4 x, Backend& be) {
  if (!o.quant_image) throw Error("quant: the operator needs its measured image (OperatorOptions::quant_image)");
  if (int64_t(o.quant_image->size()) != x.numel())
    throw Error("quant: the measured image has " + std::to_string(o.quant_image->size()) + " values, the batch " +
                    x.str() + " has " + std::to_string(x.numel()),
                1);
  std::vector<float> centre(o.quant_image->size());
  quantize_levels(o.quant_image->data(), centre.data(), x.numel(), o.quant_bits);
  const int levels = (1 << o.quant_bits) - 1;
  const bool l2 = o.data_term == "l2";
  std::string desc = "quant (" + std::to_string(o.quant_bits) + " bits per channel, " + std::to_string(levels + 1) +
                     " levels; " +
                     (l2 ? "l2 data term: the quantised image with straight-through rounding)"
                         : "interval data term: distance to each pixel's quantisation bin)");
  return std::make_unique<QuantOperator>(x, be, levels, centre, l2, desc);
}

}  // namespace reddiff
