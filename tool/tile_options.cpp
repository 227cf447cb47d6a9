// --tile / --tile-overlap and the per-batch choice of the tiled network; see tile_options.h.
#include "tool/tile_options.h"

#include <cmath>
#include <cstdio>
#include <fstream>

#include "base/error.h"
#include "engine/adm_unet.h"
#include "engine/plan.h"

namespace reddiff {

namespace {

// Bytes the kernel says can be allocated without swapping (/proc/meminfo MemAvailable); 0 if unknown.
size_t host_available_bytes() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  size_t kb = 0;
  std::string unit;
  while (f >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 0;
}

int parse_int(const std::string& opt, const std::string& v, int lo, int hi) {
  char* end = nullptr;
  const long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end || x < lo || x > hi)
    throw Error("--" + opt + ": '" + v + "' is not an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                "]");
  return int(x);
}

}  // namespace

void add_tile_options(cxxopts::Options& opts) {
  opts.add_options("Model and device")(
      "tile",
      "run the network on overlapping N x N tiles blended into the whole image's prediction: auto (tile an "
      "image larger than 1.5x the model's native size, or whose whole-image plan would not fit the free "
      "memory), off, or N (a multiple of the network's size multiple)",
      cxxopts::value<std::string>()->default_value("auto"),
      "auto|off|N")("tile-overlap", "pixels neighbouring tiles share (default: a quarter of the tile)",
                    cxxopts::value<std::string>(), "N");
}

TileSettings tile_settings_from(const cxxopts::ParseResult& r) {
  TileSettings s;
  const std::string v = r["tile"].as<std::string>();
  if (v == "auto" || v == "off") {
    s.mode = v;
  } else {
    char* end = nullptr;
    const long x = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end || x < 1 || x > 65536)
      throw Error("--tile must be auto, off or a tile side in pixels (got '" + v + "')");
    s.mode = "fixed", s.tile = int(x);
  }
  if (r.count("tile-overlap")) {
    if (s.mode == "off") throw Error("--tile-overlap needs tiling (--tile auto or N), not --tile off");
    s.overlap = parse_int("tile-overlap", r["tile-overlap"].as<std::string>(), 0, 65535);
    if (s.mode == "fixed" && s.overlap >= s.tile)
      throw Error("--tile-overlap " + std::to_string(s.overlap) + " must be smaller than --tile " +
                  std::to_string(s.tile));
  }
  return s;
}

void check_tile_fits(const TileSettings& s, int h, int w) {
  if (s.mode == "fixed" && (s.tile > h || s.tile > w))
    throw Error("--tile " + std::to_string(s.tile) + " is larger than the " + std::to_string(w) + "x" +
                std::to_string(h) + " image (use --tile off, auto or a smaller tile)");
}

void check_tile_model(const TileSettings& s, const AdmConfig& cfg) {
  if (s.mode == "off") return;
  const int tile = s.mode == "fixed" ? s.tile : cfg.image_size;
  const std::string p = tile_problem(cfg, tile, s.overlap >= 0 ? s.overlap : tile / 4, tile, tile, false);
  if (!p.empty()) throw Error(s.mode == "auto" ? p + " (--tile auto uses the model's native size)" : p);
}

TiledNetwork* RestoreTiling::for_batch(Network& net, Shape4 xs, const std::vector<uint64_t>& ids) {
  const AdmConfig& cfg = net.model().config.adm;
  const int native = cfg.image_size;
  const std::string shape = std::to_string(xs.w) + "x" + std::to_string(xs.h);
  int tile = 0;
  std::string why;
  size_t untiled_bytes = 0;
  // The whole-image plan's arena (reported; auto compares it with the available memory on the CPU; CUDA:
  // the free device memory is not queried yet).
  if (shape == last_shape_)
    untiled_bytes = last_untiled_;
  else if (s_.mode != "off" && net.backend().device() == Device::CPU)
    untiled_bytes =
        make_plan(build_adm_graph(cfg, net.model().weights, xs.n, xs.h, xs.w, net.precision(), net.fuse_embedding()))
            .arena_bytes;
  if (s_.mode == "fixed") {
    tile = s_.tile, why = "--tile " + std::to_string(tile);
  } else if (s_.mode == "auto") {
    if (xs.h * 2 > native * 3 || xs.w * 2 > native * 3) {
      tile = native,
      why = "auto: larger than 1.5x the model's " + std::to_string(native) + "x" + std::to_string(native);
    } else if (untiled_bytes > 0) {
      const size_t avail = host_available_bytes();
      if (avail > 0 && untiled_bytes > avail / 4 * 3)
        tile = std::max(network_size_multiple(cfg),
                        std::min({native, xs.h, xs.w}) / network_size_multiple(cfg) * network_size_multiple(cfg)),
        why = "auto: the whole-image plan (" + std::to_string(untiled_bytes >> 20) +
              " MiB) would not fit the available memory";
    }
  }
  if (tile == 0 && why.empty()) why = s_.mode == "off" ? "--tile off" : "auto: within 1.5x the model's native size";
  const int overlap = tile == 0 ? 0 : s_.overlap >= 0 ? s_.overlap : tile / 4;
  if (tile > 0) {
    const std::string p = tile_problem(cfg, tile, overlap, xs.h, xs.w, s_.mode == "fixed");
    if (!p.empty()) throw Error(p);
  }
  if (shape != last_shape_) {
    last_shape_ = shape, last_untiled_ = untiled_bytes;
    nlohmann::json j = {{"shape", shape}, {"tiled", tile > 0}, {"reason", why}};
    if (tile > 0) {
      const int mh = min_tiles_along(xs.h, tile, overlap), mw = min_tiles_along(xs.w, tile, overlap);
      j["tile"] = tile, j["overlap"] = overlap, j["stride"] = tile - overlap;
      j["tiles_per_image_per_step"] = {mh * mw, (mh + (xs.h > tile)) * (mw + (xs.w > tile))};  // [least, most]
      j["tile_batch"] = std::min<long>(batch_, long(xs.n) * mh * mw);
    }
    if (untiled_bytes) j["untiled_plan_bytes"] = untiled_bytes;
    shapes_.push_back(j);
    if (!quiet_ && tile > 0)  // the whole-image default says nothing (--json records it)
      std::fprintf(stderr, "%s%s: tiled, %dx%d tiles, overlap %d (%s)\n", prefix_.c_str(), shape.c_str(), tile, tile,
                   overlap, why.c_str());
  }
  if (tile == 0) return nullptr;
  any_tiled_ = true;
  if (!tn_ || tile != tn_tile_ || overlap != tn_overlap_) {
    if (tn_) tiles_run_before_ += tn_->tiles_run();
    tn_tile_ = tile, tn_overlap_ = overlap;
    TileOptions o;
    o.tile = tile, o.overlap = overlap, o.batch = batch_, o.seed = seed_, o.class_label = class_label_;
    tn_ = std::make_unique<TiledNetwork>(net, o);
  }
  tn_->begin(ids);
  return tn_.get();
}

nlohmann::json RestoreTiling::report() const {
  nlohmann::json j = {{"mode", s_.mode}, {"shapes", shapes_}};
  j["tile"] = s_.mode == "fixed" ? nlohmann::json(s_.tile) : nlohmann::json(nullptr);
  j["overlap"] = s_.overlap >= 0 ? nlohmann::json(s_.overlap) : nlohmann::json("tile/4");
  j["tiles_run"] = tiles_run_before_ + (tn_ ? tn_->tiles_run() : 0);  // tile forwards of the whole run
  return j;
}

}  // namespace reddiff
