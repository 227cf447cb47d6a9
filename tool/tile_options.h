// The restore commands' tiling options (--tile auto|off|N, --tile-overlap N) and the per-batch choice
// between the whole-image network and the tiled one (solvers/tiled_network.h), hooked into the solvers
// through their replaceable network functions. Kept apart from cmd_restore.cpp: it adds a few lines there.
#pragma once
#include <cxxopts.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/tensor.h"
#include "engine/model.h"
#include "engine/network.h"
#include "solvers/tiled_network.h"

namespace reddiff {

struct TileSettings {
  std::string mode = "auto";  // auto | off | fixed
  int tile = 0;               // fixed: the --tile N
  int overlap = -1;           // --tile-overlap; -1: a quarter of the tile
};

// Adds --tile and --tile-overlap to the "Model and device" group.
void add_tile_options(cxxopts::Options& opts);
// Parses them (one-line reddiff::Error, exit 2, on a bad value).
TileSettings tile_settings_from(const cxxopts::ParseResult& r);
// --tile N larger than an h x w image: one-line Error (checked before the model is loaded).
void check_tile_fits(const TileSettings& s, int h, int w);
// After the model is loaded: the tile (--tile N, or auto's native size) a multiple of the network's size
// multiple and the overlap below it; one-line Error otherwise.
void check_tile_model(const TileSettings& s, const AdmConfig& cfg);

// The choice for one shape, and the tiled network when tiling.
class RestoreTiling {
 public:
  RestoreTiling(const TileSettings& s, int tile_batch, uint64_t seed, int class_label, bool quiet, std::string prefix)
      : s_(s), batch_(tile_batch), seed_(seed), class_label_(class_label), quiet_(quiet), prefix_(std::move(prefix)) {}
  // For a batch of images of shape xs with these ids: the tiled network (begun for this solve), or null
  // to run the network on the whole image. Prints the choice (when tiled) the first time a shape gets one.
  TiledNetwork* for_batch(Network& net, Shape4 xs, const std::vector<uint64_t>& ids);
  // --json "tiling": the settings, per shape the choice, its reason and the tile counts, and the tiles run
  // (every tile forward of the run, all steps and images).
  nlohmann::json report() const;
  bool any_tiled() const { return any_tiled_; }

 private:
  TileSettings s_;
  int batch_;
  uint64_t seed_;
  int class_label_;
  bool quiet_;
  std::string prefix_;
  std::unique_ptr<TiledNetwork> tn_;
  int64_t tiles_run_before_ = 0;  // by the tiled networks replaced
  int tn_tile_ = 0, tn_overlap_ = 0;
  nlohmann::json shapes_ = nlohmann::json::array();
  std::string last_shape_;
  size_t last_untiled_ = 0;
  bool any_tiled_ = false;
};

}  // namespace reddiff
