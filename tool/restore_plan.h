// What a restoration run will do, decided before the model is loaded: the images of IN (one, a folder or a
// list, the --shard), where each result goes, which outputs exist already, and the batches of one size.
// Only file names and image headers are read; nothing is written.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "base/tensor.h"
#include "tool/batch_io.h"
#include "tool/restore_settings.h"

namespace reddiff {

struct Item {
  InputItem in;
  std::string status = "pending";  // ok | exists | error: ... | pending
  double psnr = std::nan(""), ssim = std::nan(""), seconds = -1;
  // jpeg, quant: the fraction of the measurement's bins the result as written lands in (bins_kept_fraction)
  double in_bins = std::nan("");
  Shape4 xs;  // the restored image's shape (n = 1)
  bool failed() const { return status.rfind("error", 0) == 0; }
};

struct Batch {
  std::vector<size_t> items;  // positions in RestorePlan::items
  Shape4 xs;                  // one image's shape
};

struct RestorePlan {
  std::vector<Item> items;  // every image of the shard, in sorted order
  std::vector<Batch> batches;
  bool batch = false;   // IN is a folder or a list (OUT a folder)
  std::string out_dir;  // batch mode: OUT
  Shard shard;          // the shard used (--shard, SLURM's, or 0/1)
  size_t images_to_restore() const;
};

// Lists IN, checks that every output can be written, skips the existing outputs (scoring them again with
// --measure) and groups the rest into batches by the images' sizes. An image that cannot be restored is a
// reddiff::Error for a single image, an item with status "error: ..." in a batch.
RestorePlan plan_restore(const RestoreSettings& s);

// [-1, 1] -> [0, 1], and as a PNG of `bits` bits per channel stores it (rounded and clamped): what the
// metrics compare.
std::vector<float> to_unit(const float* v, size_t n);
std::vector<float> as_written(const float* v, size_t n, int bits = 8);
// PSNR and SSIM of `got` against `ref` (both [0, 1], c x h x w) into the item.
void score(Item& it, const std::vector<float>& got, const std::vector<float>& ref, int c, int h, int w);

}  // namespace reddiff
