// Tiled eps-prediction (issue 16): the grid, the blend weights and the tile batches; see tiled_network.h.
#include "solvers/tiled_network.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"

namespace reddiff {

namespace {

uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

float smoothstep01(float r) { return r * r * (3.0f - 2.0f * r); }

}  // namespace

int min_tiles_along(int length, int tile, int overlap) {
  if (length <= tile) return 1;
  const int stride = tile - overlap;
  return (length - tile + stride - 1) / stride + 1;
}

std::vector<int> tile_positions(int length, int tile, int overlap, int offset) {
  if (length <= tile) return {0};
  const int stride = tile - overlap;
  std::vector<int> p;
  for (int k = 0;; ++k) {
    const int v = std::clamp(k * stride - offset, 0, length - tile);
    if (p.empty() || v != p.back()) p.push_back(v);
    if (v == length - tile) break;
  }
  return p;
}

TileGrid tile_grid(int h, int w, const TileOptions& o, uint64_t image_id, int64_t step) {
  TileGrid g;
  g.th = std::min(o.tile, h), g.tw = std::min(o.tile, w);
  const int stride = o.tile - o.overlap;
  int oy = 0, ox = 0;
  if (o.shift) {
    const uint64_t r = splitmix64(splitmix64(splitmix64(o.seed) ^ image_id) ^ uint64_t(step));
    oy = int((r & 0xffffffffull) % uint64_t(stride)), ox = int((r >> 32) % uint64_t(stride));
  }
  g.ys = tile_positions(h, o.tile, o.overlap, oy);
  g.xs = tile_positions(w, o.tile, o.overlap, ox);
  return g;
}

float tile_window(int i, int pos, int tile, int length, int overlap) {
  if (tile >= length || overlap <= 0) return 1.0f;
  float v = 1.0f;
  if (pos > 0) v *= smoothstep01(std::min(1.0f, (float(i) + 0.5f) / float(overlap)));
  if (pos + tile < length) v *= smoothstep01(std::min(1.0f, (float(tile - i) - 0.5f) / float(overlap)));
  return v;
}

std::vector<float> blend_weight_sum(const TileGrid& g, int h, int w, int overlap) {
  std::vector<float> s(size_t(h) * size_t(w), 0.0f), wx(size_t(g.tw));
  for (int y0 : g.ys)
    for (int x0 : g.xs) {
      for (int j = 0; j < g.tw; ++j) wx[size_t(j)] = tile_window(j, x0, g.tw, w, overlap);
      for (int i = 0; i < g.th; ++i) {
        const float wy = tile_window(i, y0, g.th, h, overlap);
        float* row = s.data() + size_t(y0 + i) * size_t(w) + size_t(x0);
        for (int j = 0; j < g.tw; ++j) row[j] += wy * wx[size_t(j)];
      }
    }
  return s;
}

int network_size_multiple(const AdmConfig& cfg) { return 1 << std::max(0, cfg.levels() - 1); }

std::string tile_problem(const AdmConfig& cfg, int tile, int overlap, int h, int w, bool tile_given) {
  const int m = network_size_multiple(cfg);
  if (tile < m || tile % m != 0)
    return "--tile " + std::to_string(tile) + ": a tile must be a positive multiple of " + std::to_string(m) +
           " (the network halves the image " + std::to_string(cfg.levels() - 1) + " times)";
  if (overlap < 0 || overlap >= tile)
    return "--tile-overlap " + std::to_string(overlap) + " must be in [0, " + std::to_string(tile) + ") for --tile " +
           std::to_string(tile);
  if (tile_given && (tile > h || tile > w))
    return "--tile " + std::to_string(tile) + " is larger than the " + std::to_string(w) + "x" + std::to_string(h) +
           " image (use --tile off or a smaller tile)";
  return "";
}

TiledNetwork::TiledNetwork(Network& net, const TileOptions& o) : net_(net), o_(o) {
  const AdmConfig& cfg = net.model().config.adm;
  const std::string why = tile_problem(cfg, o.tile, o.overlap, o.tile, o.tile, false);
  if (!why.empty()) throw Error(why);
  if (o.batch < 1) throw Error("tiling: the tile batch must be at least 1");
  if (cfg.num_classes > 0 && (o.class_label < 0 || o.class_label >= cfg.num_classes))
    throw Error("this model is class-conditional: give --class in [0, " + std::to_string(cfg.num_classes) + ")");
}

int TiledNetwork::out_channels() const { return net_.model().config.adm.out_channels; }

void TiledNetwork::begin(const std::vector<uint64_t>& image_ids) {
  ids_ = image_ids;
  step_ = 0;
  vjp_ready_ = false;
}

void TiledNetwork::prepare_shape(int n, int h, int w) {
  if (n == n_ && h == h_ && w == w_) return;
  if (size_t(n) != ids_.size()) throw Error("tiling: one image id per image is required (TiledNetwork::begin)", 1);
  const AdmConfig& cfg = net_.model().config.adm;
  Backend& b = net_.backend();
  n_ = n, h_ = h, w_ = w;
  th_ = std::min(o_.tile, h), tw_ = std::min(o_.tile, w);
  // Every grid has at least this many tiles, so every call runs full batches of one shape.
  const int64_t least = int64_t(n) * min_tiles_along(h, o_.tile, o_.overlap) * min_tiles_along(w, o_.tile, o_.overlap);
  batch_ = int(std::min<int64_t>(o_.batch, least));
  const size_t tin = size_t(batch_) * cfg.in_channels * th_ * tw_, tout = size_t(batch_) * cfg.out_channels * th_ * tw_;
  tin_.assign(tin, 0.0f), tout_.assign(tout, 0.0f);
  din_ = DeviceBuffer(b, tin * 4), dout_ = DeviceBuffer(b, tout * 4);
  dt_ = DeviceBuffer(b, size_t(batch_) * 4);
  if (cfg.num_classes > 0) {
    std::vector<int32_t> l(size_t(batch_), o_.class_label);
    dlabels_ = DeviceBuffer(b, l.size() * 4);
    b.upload(dlabels_.get(), l.data(), l.size() * 4);
  }
}

// Copies tiles [first, first + count) of an NCHW image batch (`channels` channels) into dst, one tile
// after another; slots up to batch_ repeat the last tile. scale (optional): multiplies each pixel by
// the tile's normalised blend weight (the cotangent of the VJP).
void TiledNetwork::gather(const float* src, int channels, size_t first, size_t count, float* dst,
                          const float* scale) const {
  const size_t plane = size_t(h_) * size_t(w_), tplane = size_t(th_) * size_t(tw_);
  std::vector<float> wx(static_cast<size_t>(tw_));
  for (int s = 0; s < batch_; ++s) {
    const Tile& tl = tiles_[first + std::min(size_t(s), count - 1)];
    float* d = dst + size_t(s) * channels * tplane;
    if (scale && size_t(s) >= count) {  // padding slot: no cotangent
      std::fill(d, d + channels * tplane, 0.0f);
      continue;
    }
    if (scale)
      for (int j = 0; j < tw_; ++j) wx[size_t(j)] = tile_window(j, tl.x, tw_, w_, o_.overlap);
    for (int c = 0; c < channels; ++c)
      for (int i = 0; i < th_; ++i) {
        const size_t row = (size_t(tl.image) * channels + c) * plane + size_t(tl.y + i) * size_t(w_) + size_t(tl.x);
        const float* sp = src + row;
        float* dp = d + size_t(c) * tplane + size_t(i) * size_t(tw_);
        if (!scale) {
          std::copy(sp, sp + tw_, dp);
          continue;
        }
        const float wy = tile_window(i, tl.y, th_, h_, o_.overlap);
        const float* ws = scale + size_t(tl.image) * plane + size_t(tl.y + i) * size_t(w_) + size_t(tl.x);
        for (int j = 0; j < tw_; ++j) dp[j] = sp[j] * (wy * wx[size_t(j)] / ws[j]);
      }
  }
}

void TiledNetwork::upload_timestep(int t) {
  const std::vector<float> tv(static_cast<size_t>(batch_), float(t));
  net_.backend().upload(dt_.get(), tv.data(), tv.size() * 4);
}

void TiledNetwork::run(const float* x_dev, int t, float* out_dev, int n, int h, int w, bool for_vjp) {
  prepare_shape(n, h, w);
  const AdmConfig& cfg = net_.model().config.adm;
  Backend& b = net_.backend();
  const bool host = b.device() == Device::CPU;
  const int c = cfg.in_channels, oc = cfg.out_channels;
  const size_t plane = size_t(h) * size_t(w), tplane = size_t(th_) * size_t(tw_);
  const float* x = x_dev;
  if (!host) {
    xh_.resize(size_t(n) * c * plane);
    b.download(xh_.data(), x_dev, xh_.size() * 4);
    x = xh_.data();
  }
  float* out = out_dev;
  if (!host) oh_.resize(size_t(n) * oc * plane), out = oh_.data();
  std::fill(out, out + size_t(n) * oc * plane, 0.0f);

  tiles_.clear();
  wsum_.assign(size_t(n) * plane, 0.0f);
  for (int k = 0; k < n; ++k) {
    const TileGrid g = tile_grid(h, w, o_, ids_[size_t(k)], step_);
    for (int y0 : g.ys)
      for (int x0 : g.xs) tiles_.push_back({k, y0, x0});
    const std::vector<float> s = blend_weight_sum(g, h, w, o_.overlap);
    std::copy(s.begin(), s.end(), wsum_.begin() + ptrdiff_t(size_t(k) * plane));
  }
  upload_timestep(t);
  const int32_t* labels = cfg.num_classes > 0 ? dlabels_.as<int32_t>() : nullptr;

  const size_t T = tiles_.size();
  std::vector<float> wx(static_cast<size_t>(tw_));
  last_calls_ = 0;
  for (size_t first = 0; first < T; first += size_t(batch_)) {
    const size_t cnt = std::min(size_t(batch_), T - first);
    gather(x, c, first, cnt, tin_.data(), nullptr);
    b.upload(din_.get(), tin_.data(), tin_.size() * 4);
    if (for_vjp)
      net_.forward_for_vjp(din_.as<float>(), dt_.as<float>(), labels, dout_.as<float>(), batch_, th_, tw_);
    else
      net_.forward(din_.as<float>(), dt_.as<float>(), labels, dout_.as<float>(), batch_, th_, tw_);
    b.download(tout_.data(), dout_.get(), tout_.size() * 4);
    ++last_calls_;
    // out += weight * tile, in tile order (independent of the batch size)
    for (size_t s = 0; s < cnt; ++s) {
      const Tile& tl = tiles_[first + s];
      for (int j = 0; j < tw_; ++j) wx[size_t(j)] = tile_window(j, tl.x, tw_, w, o_.overlap);
      for (int ch = 0; ch < oc; ++ch)
        for (int i = 0; i < th_; ++i) {
          const float wy = tile_window(i, tl.y, th_, h, o_.overlap);
          const float* sp = tout_.data() + (s * oc + size_t(ch)) * tplane + size_t(i) * size_t(tw_);
          float* dp = out + (size_t(tl.image) * oc + size_t(ch)) * plane + size_t(tl.y + i) * size_t(w) + size_t(tl.x);
          for (int j = 0; j < tw_; ++j) dp[j] += wy * wx[size_t(j)] * sp[j];
        }
    }
  }
  for (int k = 0; k < n; ++k)
    for (int ch = 0; ch < oc; ++ch) {
      float* dp = out + (size_t(k) * oc + size_t(ch)) * plane;
      const float* ws = wsum_.data() + size_t(k) * plane;
      for (size_t p = 0; p < plane; ++p) dp[p] /= ws[p];
    }
  if (!host) b.upload(out_dev, oh_.data(), oh_.size() * 4);
  last_tiles_ = int(T);
  tiles_run_ += int64_t(T);
  vjp_ready_ = for_vjp;
  vjp_forward_kept_ = for_vjp && T <= size_t(batch_);  // one call: its activations are still there
  if (for_vjp && !vjp_forward_kept_) xsave_.assign(x, x + size_t(n) * c * plane);
  ++step_;
}

void TiledNetwork::forward(const float* x, int t, float* out, int n, int h, int w) { run(x, t, out, n, h, w, false); }

void TiledNetwork::forward_for_vjp(const float* x, int t, float* out, int n, int h, int w) {
  run(x, t, out, n, h, w, true);
}

void TiledNetwork::vjp(const float* cot_dev, float* gx_dev) {
  if (!vjp_ready_) throw Error("tiling: vjp without a forward_for_vjp before it", 1);
  vjp_ready_ = false;
  const AdmConfig& cfg = net_.model().config.adm;
  Backend& b = net_.backend();
  const bool host = b.device() == Device::CPU;
  const int c = cfg.in_channels, oc = cfg.out_channels;
  const size_t plane = size_t(h_) * size_t(w_), tplane = size_t(th_) * size_t(tw_);
  std::vector<float> cot_h, gx_h;
  const float* cot = cot_dev;
  float* gx = gx_dev;
  if (!host) {
    cot_h.resize(size_t(n_) * oc * plane), gx_h.resize(size_t(n_) * c * plane);
    b.download(cot_h.data(), cot_dev, cot_h.size() * 4);
    cot = cot_h.data(), gx = gx_h.data();
  }
  std::fill(gx, gx + size_t(n_) * c * plane, 0.0f);
  const int32_t* labels = cfg.num_classes > 0 ? dlabels_.as<int32_t>() : nullptr;
  const size_t T = tiles_.size();
  std::vector<float> tcot(size_t(batch_) * oc * tplane), tgx(size_t(batch_) * c * tplane);
  DeviceBuffer dcot(b, tcot.size() * 4), dgx(b, tgx.size() * 4);
  for (size_t first = 0; first < T; first += size_t(batch_)) {
    const size_t cnt = std::min(size_t(batch_), T - first);
    if (!vjp_forward_kept_) {  // recompute this batch's forward, keeping its activations
      gather(xsave_.data(), c, first, cnt, tin_.data(), nullptr);
      b.upload(din_.get(), tin_.data(), tin_.size() * 4);
      net_.forward_for_vjp(din_.as<float>(), dt_.as<float>(), labels, dout_.as<float>(), batch_, th_, tw_);
    }
    gather(cot, oc, first, cnt, tcot.data(), wsum_.data());
    b.upload(dcot.get(), tcot.data(), tcot.size() * 4);
    net_.vjp(dcot.as<float>(), dgx.as<float>());
    b.download(tgx.data(), dgx.get(), tgx.size() * 4);
    for (size_t s = 0; s < cnt; ++s) {
      const Tile& tl = tiles_[first + s];
      for (int ch = 0; ch < c; ++ch)
        for (int i = 0; i < th_; ++i) {
          const float* sp = tgx.data() + (s * c + size_t(ch)) * tplane + size_t(i) * size_t(tw_);
          float* dp = gx + (size_t(tl.image) * c + size_t(ch)) * plane + size_t(tl.y + i) * size_t(w_) + size_t(tl.x);
          for (int j = 0; j < tw_; ++j) dp[j] += sp[j];
        }
    }
  }
  if (!host) b.upload(gx_dev, gx_h.data(), gx_h.size() * 4);
}

std::function<void(const float*, int, float*, int, int, int)> TiledNetwork::eps_function() {
  return [this](const float* x, int t, float* out, int n, int h, int w) { forward(x, t, out, n, h, w); };
}

EpsVjpFunctions TiledNetwork::vjp_functions() {
  EpsVjpFunctions f;
  f.out_channels = out_channels();
  f.forward = [this](const float* x, int t, float* out, int n, int h, int w) { forward_for_vjp(x, t, out, n, h, w); };
  f.vjp = [this](const float* cot, float* gx) { vjp(cot, gx); };
  return f;
}

}  // namespace reddiff
