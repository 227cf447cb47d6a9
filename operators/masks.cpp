// Inpainting masks (1 = keep, 0 = hole), one H x W mask per image drawn from (seed, image id):
//   box:      a square hole of --box-size (default half the short side), centred or (--random-position)
//             at a uniformly drawn position inside the image;
//   random:   exactly round(fraction * H * W) pixels removed, drawn without replacement;
//   half:     the --side half removed (left/top: the first floor(size/2) columns/rows, right/bottom: the last);
//   freeform: brush strokes (polylines of 4-12 segments, radius 1.5-4.5 % of the short side, turning up to
//             +-60 deg per vertex) painted disc by disc until the holes cover `fraction` of the image; the
//             last disc overshoots by at most its own area (< 0.7 % of the image);
//   file:     an image (grey level >= 0.5 keeps) or .npy array (> 0.5 keeps) of any size with the image's
//             aspect ratio (within 2 %), resized by nearest neighbour: source pixel floor((i + 0.5) * Hs / H).
// --invert swaps kept and removed pixels of any of them.
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

void box_mask(float* m, int h, int w, int s, bool random_pos, OpRng& rng) {
  int top = (h - s) / 2, left = (w - s) / 2;
  if (random_pos) {
    top = int(rng.below(uint64_t(h - s + 1)));
    left = int(rng.below(uint64_t(w - s + 1)));
  }
  for (int i = top; i < top + s; ++i)
    for (int j = left; j < left + s; ++j) m[size_t(i) * w + j] = 0.0f;
}

void random_mask(float* m, int h, int w, double fraction, OpRng& rng) {
  const size_t n = size_t(h) * w;
  const size_t holes = size_t(std::llround(fraction * double(n)));
  std::vector<uint32_t> idx(n);
  for (size_t i = 0; i < n; ++i) idx[i] = uint32_t(i);
  for (size_t i = 0; i < holes; ++i) {  // partial Fisher-Yates
    const size_t j = i + size_t(rng.below(uint64_t(n - i)));
    std::swap(idx[i], idx[j]);
    m[idx[i]] = 0.0f;
  }
}

void half_mask(float* m, int h, int w, const std::string& side) {
  for (int i = 0; i < h; ++i)
    for (int j = 0; j < w; ++j) {
      bool hole = false;
      if (side == "left")
        hole = j < w / 2;
      else if (side == "right")
        hole = j >= w - w / 2;
      else if (side == "top")
        hole = i < h / 2;
      else
        hole = i >= h - h / 2;
      if (hole) m[size_t(i) * w + j] = 0.0f;
    }
}

void freeform_mask(float* m, int h, int w, double fraction, OpRng& rng) {
  const int64_t n = int64_t(h) * w;
  const int64_t target = std::llround(fraction * double(n));
  int64_t covered = 0;
  const double S = std::min(h, w);
  auto disc = [&](double cy, double cx, double r) {
    const int i0 = std::max(0, int(std::floor(cy - r))), i1 = std::min(h - 1, int(std::ceil(cy + r)));
    const int j0 = std::max(0, int(std::floor(cx - r))), j1 = std::min(w - 1, int(std::ceil(cx + r)));
    for (int i = i0; i <= i1; ++i)
      for (int j = j0; j <= j1; ++j) {
        const double dy = i - cy, dx = j - cx;
        float& v = m[size_t(i) * w + j];
        if (v != 0.0f && dy * dy + dx * dx <= r * r) {
          v = 0.0f;
          ++covered;
        }
      }
  };
  int strokes = 0;
  while (covered < target) {
    if (++strokes > 100000) break;  // cannot happen for fraction < 1; guards against a bug looping forever
    double y = rng.uniform() * (h - 1), x = rng.uniform() * (w - 1);
    const double r = std::max(1.0, S * (0.015 + 0.03 * rng.uniform()));
    double angle = 2.0 * kPi * rng.uniform();
    const int segments = 4 + int(rng.below(9));
    disc(y, x, r);
    for (int sgm = 0; sgm < segments && covered < target; ++sgm) {
      angle += (rng.uniform() - 0.5) * (2.0 * kPi / 3.0);
      const double len = S * (0.05 + 0.15 * rng.uniform());
      double ey = y + len * std::sin(angle), ex = x + len * std::cos(angle);
      ey = std::min(std::max(ey, 0.0), double(h - 1));
      ex = std::min(std::max(ex, 0.0), double(w - 1));
      const double dist = std::hypot(ey - y, ex - x);
      const double step = std::max(0.5, r / 3.0);
      const int steps = std::max(1, int(std::ceil(dist / step)));
      for (int k = 1; k <= steps && covered < target; ++k) {
        const double t = double(k) / steps;
        disc(y + t * (ey - y), x + t * (ex - x), r);
      }
      y = ey;
      x = ex;
    }
  }
}

// A mask of any size is resized to the image (nearest neighbour) when the aspect ratios agree within 2 %.
void check_mask_aspect(const std::string& path, int hs, int ws, int h, int w) {
  const double ar_img = double(w) / h, ar_mask = double(ws) / hs;
  if (std::fabs(ar_mask / ar_img - 1.0) > 0.02)
    throw Error("mask " + path + " is " + std::to_string(ws) + "x" + std::to_string(hs) + ", which does not fit the " +
                std::to_string(w) + "x" + std::to_string(h) + " image (aspect ratios differ)");
}

std::vector<float> file_mask(const std::string& path, int h, int w) {
  int hs = 0, ws = 0;
  std::vector<float> src;
  if (has_extension(path, ".npy")) {
    NpyArray a = read_npy_pixels(path, "mask");
    std::vector<int64_t> s;
    for (auto d : a.shape)
      if (d != 1) s.push_back(d);
    if (a.shape.size() < 2 || s.size() > 2 || a.numel() == 0)
      throw Error("mask " + path + ": expected an (H, W) array, got a " + std::to_string(a.shape.size()) + "-d array");
    hs = int(a.shape[a.shape.size() - 2]);
    ws = int(a.shape[a.shape.size() - 1]);
    if (int64_t(hs) * ws != a.numel()) throw Error("mask " + path + ": expected an (H, W) array");
    src.resize(size_t(hs) * ws);
    for (size_t i = 0; i < src.size(); ++i) src[i] = a.is_integer ? float(a.idata[i]) : a.data[i];
  } else {
    const ImageInfo info = probe_image(path);  // a mask that cannot fit is refused before it is decoded
    check_mask_aspect(path, info.h, info.w, h, w);
    Image img = load_image_raw(path);
    hs = img.h;
    ws = img.w;
    const int cc = img.c >= 3 ? 3 : 1;  // alpha ignored
    src.assign(size_t(hs) * ws, 0.0f);
    for (int k = 0; k < cc; ++k)
      for (size_t i = 0; i < src.size(); ++i) src[i] += img.data[size_t(k) * hs * ws + i] / float(cc);
  }
  check_mask_aspect(path, hs, ws, h, w);
  std::vector<float> m(size_t(h) * w);
  for (int i = 0; i < h; ++i) {
    const int si = std::min(hs - 1, int(std::floor((i + 0.5) * hs / h)));
    for (int j = 0; j < w; ++j) {
      const int sj = std::min(ws - 1, int(std::floor((j + 0.5) * ws / w)));
      m[size_t(i) * w + j] = src[size_t(si) * ws + sj] >= 0.5f ? 1.0f : 0.0f;
    }
  }
  return m;
}

}  // namespace

std::vector<float> make_inpaint_masks(const OperatorOptions& o, Shape4 x, const std::vector<uint64_t>& image_ids) {
  const std::vector<uint64_t> ids = batch_ids(image_ids, x.n);
  const int h = x.h, w = x.w;
  const size_t hw = size_t(h) * w;
  std::vector<float> m(size_t(x.n) * hw, 1.0f);
  const bool keyword = o.mask == "box" || o.mask == "random" || o.mask == "half" || o.mask == "freeform";
  std::vector<float> from_file;
  if (!keyword) from_file = file_mask(o.mask, h, w);
  if (o.mask == "box") {
    const int s = o.box_size > 0 ? o.box_size : std::min(h, w) / 2;
    if (s > std::min(h, w))
      throw Error("--box-size " + std::to_string(s) + " does not fit the " + std::to_string(w) + "x" +
                  std::to_string(h) + " image");
  }
  for (int b = 0; b < x.n; ++b) {
    float* mb = m.data() + size_t(b) * hw;
    OpRng rng(o.seed, ids[size_t(b)], RngStream::Mask);
    if (o.mask == "box") {
      box_mask(mb, h, w, o.box_size > 0 ? o.box_size : std::min(h, w) / 2, o.random_position, rng);
    } else if (o.mask == "random") {
      random_mask(mb, h, w, o.fraction, rng);
    } else if (o.mask == "half") {
      half_mask(mb, h, w, o.side);
    } else if (o.mask == "freeform") {
      freeform_mask(mb, h, w, o.fraction, rng);
    } else {
      std::copy(from_file.begin(), from_file.end(), mb);
    }
    if (o.invert)
      for (size_t i = 0; i < hw; ++i) mb[i] = 1.0f - mb[i];
  }
  return m;
}

}  // namespace reddiff
