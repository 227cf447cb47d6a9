// Internal to operators/: the shared base of the SVD views (operators/svd.h) and their factories.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "operators/op_impl.h"
#include "operators/svd.h"

namespace reddiff {

class SvdBase : public SvdOperator {
 protected:
  SvdBase(Shape4 x, Shape4 y, Backend& be, double sigma_y) : SvdOperator(x, y, be, sigma_y) {}
  // Keeps the singular values (one image's [C, H, W] repeated n times when `s` has one image's size).
  void set_singulars(const std::vector<float>& s) {
    const size_t img = size_t(xs_.image_numel());
    if (s.size() == img && xs_.n > 1) {
      s_host_.clear();
      for (int i = 0; i < xs_.n; ++i) s_host_.insert(s_host_.end(), s.begin(), s.end());
    } else {
      s_host_ = s;
    }
    if (s_host_.size() != size_t(xs_.numel())) throw Error("svd: singular values of the wrong size", 1);
    s_buf_ = DeviceBuffer::from_host(*be_, s_host_);
    s_dev_ = s_buf_.as<float>();
  }
  void copy(float* dst, const float* src, int64_t count, void* stream) const {
    be_->copy(dst, src, size_t(count) * sizeof(float), stream);
  }
  DeviceBuffer s_buf_;
};

std::unique_ptr<SvdOperator> make_svd_identity(const OperatorOptions& o, Shape4 x, Backend& be);
std::unique_ptr<SvdOperator> make_svd_inpaint(const OperatorOptions& o, Shape4 x, const std::vector<uint64_t>& ids,
                                              Backend& be);
std::unique_ptr<SvdOperator> make_svd_colorize(const OperatorOptions& o, Shape4 x, Backend& be);
// y = Mh X Mw^T per plane (Mh: mh_rows x H, Mw: mw_rows x W, dense row-major), 1-D singular values below
// `zero` set to 0.
std::unique_ptr<SvdOperator> make_svd_separable(const OperatorOptions& o, Shape4 x, const std::vector<double>& mh,
                                                int mh_rows, const std::vector<double>& mw, int mw_rows, double zero,
                                                std::string desc, Backend& be);

}  // namespace reddiff
