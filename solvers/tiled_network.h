// Tiled eps-prediction for images of any size (issue 16): each call assembles the whole image's eps_hat
// from overlapping tiles of a fixed size (tile N, overlap O, stride N - O), run through the network in
// batches of a fixed number of tiles (so the network compiles one plan, for one batch of tiles, and its
// memory is bounded by that batch), and blended with smooth weights normalised to sum to one at every
// pixel. The grid shifts by an offset keyed by (seed, image id, step) at every call, so no seam stays in
// place. The VJP of the tiled network is the same blend of the tiles' VJPs (the blend is linear in the
// tiles' outputs). It presents the functions the solvers already take in place of the network
// (RedDiffSolver/DdrmSolver::set_eps_function, DpsSolver/PigdmSolver::set_network_functions), so they
// run on it unchanged; the operators stay on the whole image.
//
// Tile positions along an axis of length L > N: clamp(k (N - O) - offset, 0, L - N) for k = 0, 1, ...
// (duplicates dropped), offset in [0, N - O); an axis of length <= N is one tile of size L. Window of a
// tile along an axis: smoothstep ramps over the O pixels at each side that is not on the image border
// (> 0 everywhere), the 2-D weight the product of the two axes'; the blend divides by the sum of the
// weights of the tiles covering each pixel. Tiles are gathered, run and accumulated in one fixed order,
// and the CPU network computes each image of a batch independently, so the result does not depend on
// the tile batch size. Data are staged through the host (a memcpy on the CPU backend).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/network.h"
#include "solvers/guided_network.h"

namespace reddiff {

struct TileOptions {
  int tile = 256;        // N: tile side (the model's native size is the natural choice)
  int overlap = 64;      // O: pixels neighbouring tiles share (0 <= O < N); stride N - O
  int batch = 1;         // tiles per network call
  uint64_t seed = 0;     // grid offsets keyed by (seed, image id, step)
  bool shift = true;     // false: the grid stays at offset 0 every step (tests)
  int class_label = -1;  // class-conditional models
};

// One image's tiles at one step: tile height/width and the top-left corners along each axis.
struct TileGrid {
  int th = 0, tw = 0;
  std::vector<int> ys, xs;
};

// Corners along one axis (see above); offset in [0, tile - overlap).
std::vector<int> tile_positions(int length, int tile, int overlap, int offset);
// Minimum number of tiles along an axis (offset 0): every grid of this axis has at least this many.
int min_tiles_along(int length, int tile, int overlap);
// The grid of one image at one step; offsets from (seed, image id, step) unless o.shift is false.
TileGrid tile_grid(int h, int w, const TileOptions& o, uint64_t image_id, int64_t step);
// Weight of pixel i of a tile of size `tile` at corner `pos` on an axis of length `length`.
float tile_window(int i, int pos, int tile, int length, int overlap);
// Sum over the grid's tiles of their 2-D weights at every pixel ([h * w], row-major).
std::vector<float> blend_weight_sum(const TileGrid& g, int h, int w, int overlap);

// Empty when the options can tile an h x w image with this network, else the one-line problem: a tile
// that is not a positive multiple of the network's size multiple (2^(levels-1)), an overlap outside
// [0, tile), a tile larger than the image (when `tile_given`: an explicit --tile N).
std::string tile_problem(const AdmConfig& cfg, int tile, int overlap, int h, int w, bool tile_given);
// The network's size multiple: 2^(levels - 1).
int network_size_multiple(const AdmConfig& cfg);

class TiledNetwork {
 public:
  TiledNetwork(Network& net, const TileOptions& o);
  // A new solve over these image ids: the step counter restarts at 0.
  void begin(const std::vector<uint64_t>& image_ids);
  // eps_hat on the backend's device, as Network::forward (NCHW f32 [n, in_c, h, w] -> [n, out_c, h, w])
  // with timestep index t for every image. Each call is one step (the grid shifts).
  void forward(const float* x, int t, float* out, int n, int h, int w);
  // The same, keeping what vjp() needs; then grad_x = J^T cotangent of the tiled map (one vjp per call).
  void forward_for_vjp(const float* x, int t, float* out, int n, int h, int w);
  void vjp(const float* cotangent, float* grad_x);

  // The replacement functions the solvers take.
  std::function<void(const float*, int, float*, int, int, int)> eps_function();
  EpsVjpFunctions vjp_functions();
  int out_channels() const;

  // Tiles run by the last call (all images), the tiles per network call, and network calls per step.
  int last_tiles() const { return last_tiles_; }
  int batch_tiles() const { return batch_; }
  int last_calls() const { return last_calls_; }
  // Tiles run (all images, all calls) since this object was made.
  int64_t tiles_run() const { return tiles_run_; }
  int64_t step() const { return step_; }

 private:
  void run(const float* x, int t, float* out, int n, int h, int w, bool for_vjp);
  void prepare_shape(int n, int h, int w);
  void upload_timestep(int t);
  void gather(const float* src, int channels, size_t first, size_t count, float* dst, const float* scale) const;

  struct Tile {
    int image, y, x;
  };
  Network& net_;
  TileOptions o_;
  std::vector<uint64_t> ids_;
  int64_t step_ = 0;
  int n_ = 0, h_ = 0, w_ = 0, th_ = 0, tw_ = 0, batch_ = 0, last_tiles_ = 0, last_calls_ = 0;
  int64_t tiles_run_ = 0;
  std::vector<Tile> tiles_;
  std::vector<float> wsum_;     // [n, h, w] sum of weights (kept for the VJP)
  std::vector<float> xsave_;    // the input of the last forward_for_vjp (host)
  std::vector<float> xh_, oh_;  // host staging of x / out (CUDA backend)
  std::vector<float> tin_, tout_;
  DeviceBuffer din_, dout_, dt_, dlabels_;
  bool vjp_ready_ = false, vjp_forward_kept_ = false;
};

}  // namespace reddiff
