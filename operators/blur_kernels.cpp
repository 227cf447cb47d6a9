// Blur kernels for deblurring, one per image (sum 1):
//   gaussian: k[a, b] = g[a] g[b], g[a] proportional to exp(-(a - size/2)^2 / (2 sigma^2)); size 2*ceil(3 sigma)+1
//   uniform:  1/size^2 over size x size (default 9)
//   motion:   a seeded camera-shake trajectory (default 61 x 61, as DPS): 2000 steps of a particle whose heading
//             drifts by Gaussian turns (std 0.002 + 0.07 * intensity rad per step) with rare jerks (probability
//             0.002 * intensity per step, up to +-90 deg) and whose speed wanders in [0.2, 1.8] (where it is slow
//             the kernel is heavier); scaled so that its bounding box spans 30-80 % of the kernel side (drawn),
//             centred, and splatted bilinearly;
//   file:     an image (mean of the colour channels) or a 2-D .npy array, normalised to sum 1.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "base/error.h"
#include "engine/image_io.h"
#include "engine/npy.h"
#include "operators/op_impl.h"
#include "operators/rng.h"

namespace reddiff {
namespace {

constexpr double kPi = 3.14159265358979323846;

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

std::vector<float> motion_kernel(int size, double intensity, OpRng& rng) {
  const int steps = 2000;
  std::vector<double> px(steps + 1), py(steps + 1);
  double heading = 2.0 * kPi * rng.uniform(), x = 0.0, y = 0.0, speed = 1.0;
  const double turn = 0.002 + 0.07 * intensity;  // heading drift per step: total ~ turn * sqrt(steps)
  px[0] = py[0] = 0.0;
  for (int t = 1; t <= steps; ++t) {
    heading += turn * rng.normal();
    if (rng.uniform() < 0.002 * intensity) heading += (rng.uniform() - 0.5) * kPi;  // jerk
    speed = std::min(1.8, std::max(0.2, speed + 0.05 * rng.normal()));              // the camera lingers and rushes
    x += speed * std::cos(heading);
    y += speed * std::sin(heading);
    px[size_t(t)] = x;
    py[size_t(t)] = y;
  }
  const auto [xmin, xmax] = std::minmax_element(px.begin(), px.end());
  const auto [ymin, ymax] = std::minmax_element(py.begin(), py.end());
  const double extent = std::max(*xmax - *xmin, *ymax - *ymin);
  const double span = double(size - 1) * (0.3 + 0.5 * rng.uniform());
  const double s = extent > 0.0 ? span / extent : 0.0;
  const double cx = 0.5 * (*xmin + *xmax), cy = 0.5 * (*ymin + *ymax), c = 0.5 * (size - 1);
  std::vector<double> k(size_t(size) * size, 0.0);
  for (int t = 0; t <= steps; ++t) {
    const double u = c + (py[size_t(t)] - cy) * s, v = c + (px[size_t(t)] - cx) * s;
    const int i = std::min(size - 2, std::max(0, int(std::floor(u))));
    const int j = std::min(size - 2, std::max(0, int(std::floor(v))));
    const double fu = std::min(1.0, std::max(0.0, u - i)), fv = std::min(1.0, std::max(0.0, v - j));
    k[size_t(i) * size + j] += (1 - fu) * (1 - fv);
    k[size_t(i) * size + j + 1] += (1 - fu) * fv;
    k[size_t(i + 1) * size + j] += fu * (1 - fv);
    k[size_t(i + 1) * size + j + 1] += fu * fv;
  }
  double sum = 0.0;
  for (double v : k) sum += v;
  std::vector<float> out(k.size());
  for (size_t i = 0; i < k.size(); ++i) out[i] = float(k[i] / sum);
  return out;
}

std::string kernel_misfit(int kh, int kw, Shape4 x) {
  return "blur kernel " + std::to_string(kw) + "x" + std::to_string(kh) + " does not fit the " + std::to_string(x.w) +
         "x" + std::to_string(x.h) + " image";
}

// Reads a kernel file for images of shape x. An image file's header is checked against x before its pixels
// are decoded: a kernel larger than the image is refused without decoding it.
void file_kernel(const std::string& path, Shape4 x, int& kh, int& kw, std::vector<float>& k) {
  if (has_extension(path, ".npy")) {
    NpyArray a = read_npy_pixels(path, "blur kernel");
    size_t non1 = 0;
    for (auto d : a.shape) non1 += d != 1;
    if (a.shape.size() < 2 || non1 > 2 || a.numel() == 0)
      throw Error("blur kernel " + path + ": expected a 2-d (kh, kw) array");
    kh = int(a.shape[a.shape.size() - 2]);
    kw = int(a.shape[a.shape.size() - 1]);
    if (int64_t(kh) * kw != a.numel()) throw Error("blur kernel " + path + ": expected a 2-d (kh, kw) array");
    k.resize(size_t(kh) * kw);
    for (size_t i = 0; i < k.size(); ++i) k[i] = a.is_integer ? float(a.idata[i]) : a.data[i];
  } else {
    const ImageInfo info = probe_image(path);
    if (info.h > x.h || info.w > x.w) throw Error(kernel_misfit(info.h, info.w, x));
    Image img = load_image_raw(path);
    kh = img.h;
    kw = img.w;
    const int cc = img.c >= 3 ? 3 : 1;
    k.assign(size_t(kh) * kw, 0.0f);
    for (int c = 0; c < cc; ++c)
      for (size_t i = 0; i < k.size(); ++i) k[i] += img.data[size_t(c) * kh * kw + i] / float(cc);
  }
  double sum = 0.0;
  for (float v : k) {
    if (!std::isfinite(v)) throw Error("blur kernel " + path + ": contains NaN or infinity");
    sum += v;
  }
  if (!(sum > 1e-12)) throw Error("blur kernel " + path + ": its entries must have a positive sum");
  for (float& v : k) v = float(v / sum);
}

}  // namespace

BlurKernels make_blur_kernels(const OperatorOptions& o, Shape4 x, const std::vector<uint64_t>& image_ids) {
  const std::vector<uint64_t> ids = batch_ids(image_ids, x.n);
  BlurKernels bk;
  if (o.blur == "gaussian" || o.blur == "uniform") {
    const bool g = o.blur == "gaussian";
    const int size = o.blur_size > 0 ? o.blur_size : (g ? 2 * int(std::ceil(3.0 * o.blur_sigma)) + 1 : 9);
    std::vector<double> v(static_cast<size_t>(size));
    double sum = 0.0;
    for (int a = 0; a < size; ++a) {
      const double d = a - size / 2;
      v[size_t(a)] = g ? std::exp(-d * d / (2.0 * o.blur_sigma * o.blur_sigma)) : 1.0;
      sum += v[size_t(a)];
    }
    bk.row.resize(size_t(size));
    for (int a = 0; a < size; ++a) bk.row[size_t(a)] = float(v[size_t(a)] / sum);
    bk.col = bk.row;
    bk.kh = bk.kw = size;
    bk.description = g ? "gaussian sigma " + fmt(o.blur_sigma) + " size " + std::to_string(size)
                       : "uniform size " + std::to_string(size);
  } else if (o.blur == "motion") {
    bk.kh = bk.kw = o.blur_size > 0 ? o.blur_size : 61;
    bk.description = "motion " + std::to_string(bk.kh) + "x" + std::to_string(bk.kw) + " intensity " +
                     fmt(o.motion_intensity) + " seed " + std::to_string(o.seed);
  } else {
    std::vector<float> k;
    file_kernel(o.blur, x, bk.kh, bk.kw, k);
    bk.k.reserve(k.size() * size_t(x.n));
    for (int b = 0; b < x.n; ++b) bk.k.insert(bk.k.end(), k.begin(), k.end());
    bk.description = "kernel file " + o.blur + " " + std::to_string(bk.kw) + "x" + std::to_string(bk.kh);
  }
  if (bk.kh > x.h || bk.kw > x.w) throw Error(kernel_misfit(bk.kh, bk.kw, x));
  if (!bk.row.empty()) {
    bk.k.resize(size_t(x.n) * bk.kh * bk.kw);
    for (int b = 0; b < x.n; ++b)
      for (int i = 0; i < bk.kh; ++i)
        for (int j = 0; j < bk.kw; ++j)
          bk.k[(size_t(b) * bk.kh + i) * bk.kw + j] = bk.col[size_t(i)] * bk.row[size_t(j)];
  } else if (o.blur == "motion") {
    for (int b = 0; b < x.n; ++b) {
      OpRng rng(o.seed, ids[size_t(b)], RngStream::Kernel);
      std::vector<float> k = motion_kernel(bk.kh, o.motion_intensity, rng);
      bk.k.insert(bk.k.end(), k.begin(), k.end());
    }
  }
  return bk;
}

}  // namespace reddiff
