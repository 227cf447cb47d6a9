// plan_restore: IN listed, outputs checked, existing results skipped, the rest grouped into batches.
#include "tool/restore_plan.h"

#include <cstdio>
#include <filesystem>
#include <map>
#include <tuple>

#include "base/error.h"
#include "engine/image_io.h"
#include "engine/input_limits.h"
#include "engine/metrics.h"

namespace fs = std::filesystem;

namespace reddiff {
namespace {

Item pending(const InputItem& in) {
  Item it;
  it.in = in;
  return it;
}

// One image: its id (--image-id, else the hash of its file name) and its output (OUT, or OUT/NAME.png when OUT
// is a folder).
void list_single(const RestoreSettings& s, RestorePlan& p) {
  if (s.has_shard) throw Error("--shard needs a folder or .txt list as IN");
  if (s.measure && has_extension(s.in, ".npy")) throw Error("--measure needs a clean image as IN, not a .npy array");
  InputItem it;
  it.path = s.in;
  it.rel = fs::path(s.in).filename().string();
  it.id = s.has_image_id ? s.image_id : image_id(it.rel);
  if (is_directory(s.out) || (!s.out.empty() && s.out.back() == '/')) {
    it.out = (fs::path(s.out) / fs::path(it.rel).replace_extension(".png")).string();
  } else {
    if (!has_extension(s.out, ".png")) throw Error("OUT '" + s.out + "' must end in .png (or be a folder)");
    it.out = s.out;
  }
  p.items.push_back(pending(it));
}

// A folder or list: the images of this shard, each with its output under OUT.
void list_batch(const RestoreSettings& s, InputKind kind, RestorePlan& p) {
  if (s.has_image_id) throw Error("--image-id is for a single image (a batch hashes each file name)");
  if (file_exists(s.out)) throw Error("OUT '" + s.out + "' is a file; with a folder or list as IN, OUT is a folder");
  p.out_dir = s.out;
  p.shard = s.has_shard ? s.shard : shard_from_env();
  const auto all = list_inputs(s.in, kind, p.out_dir, !s.measure);
  if (all.empty()) throw Error("no images in '" + s.in + "'");
  for (const auto& it : select_shard(all, p.shard)) p.items.push_back(pending(it));
  if (p.items.empty() && !s.quiet)
    std::fprintf(stderr, "%sshard %s of %zu images is empty\n", s.prefix().c_str(), p.shard.str().c_str(), all.size());
}

// The directory exists or can be made: its first existing ancestor is a writable folder.
void check_creatable_directory(const std::string& dir, const std::string& what) {
  fs::path d = fs::absolute(fs::path(dir)).lexically_normal();
  while (!d.empty() && !fs::exists(d) && d != d.parent_path()) d = d.parent_path();
  if (!is_directory(d.string())) throw Error("cannot write " + what + ": '" + d.string() + "' is not a folder");
  check_writable_directory(d.string(), what);
}

// Everything the run will write can be written, before the model is loaded.
void check_outputs(const RestoreSettings& s, const RestorePlan& p) {
  const std::string& meas = s.save_measurement;
  if (!meas.empty() && s.task->view == MeasurementView::File)
    throw Error("--save-measurement: the " + s.task->name + " measurement is a file; write it with `reddiff degrade " +
                s.task->name + "`");
  if (!meas.empty() && !p.batch && !has_extension(meas, ".png") && !has_extension(meas, ".npy"))
    throw Error("--save-measurement '" + meas + "' must end in .png or .npy");
  check_creatable_directory(p.batch ? p.out_dir : parent_directory(p.items[0].in.out), "OUT");
  if (!s.json.empty()) check_creatable_directory(parent_directory(s.json), "--json '" + s.json + "'");
  if (!s.csv.empty()) check_creatable_directory(parent_directory(s.csv), "--csv '" + s.csv + "'");
  if (!meas.empty()) check_creatable_directory(p.batch ? meas : parent_directory(meas), "--save-measurement");
}

// Items whose output exists are "exists" (and, with --measure, scored again so that a resumed run's CSV is
// complete) unless --overwrite; the positions of the others.
std::vector<size_t> skip_existing(const RestoreSettings& s, RestorePlan& p) {
  std::vector<size_t> todo;
  for (size_t i = 0; i < p.items.size(); ++i) {
    Item& it = p.items[i];
    if (s.overwrite || !file_exists(it.in.out)) {
      todo.push_back(i);
      continue;
    }
    it.status = "exists";
    if (s.measure) {
      try {
        Image ref = load_image_rgb(it.in.path, true), got = load_image_rgb(it.in.out, true);
        if (ref.h == got.h && ref.w == got.w)
          score(it, to_unit(got.data.data(), got.data.size()), to_unit(ref.data.data(), ref.data.size()), 3, ref.h,
                ref.w);
      } catch (const Error&) {}
    }
    if (!s.quiet)
      std::fprintf(stderr, "%s%s exists, skipped (--overwrite replaces it)\n", s.prefix().c_str(), it.in.out.c_str());
  }
  return todo;
}

// The restored image's shape for an input of c x h x w (from its header).
Shape4 restored_shape(const RestoreSettings& s, const Item& it, int c, int h, int w) {
  if (s.measure) return {1, 3, h, w};
  const TaskSpec& task = *s.task;
  const bool npy = has_extension(it.in.path, ".npy");
  if (task.observation == Observation::NpyOnly && !npy)
    throw Error(task.name +
                " restores from the .npy measurement that `reddiff degrade` writes (its PNG is for "
                "viewing only), or use --measure with a clean image");
  const Shape4 xs = task.image_shape(s.op, Shape4{1, npy ? c : task.y_channels, h, w});
  if (npy && c != task.y_channels)
    throw Error(it.in.path + ": " + std::to_string(c) + " channels, a " + task.name + " measurement has " +
                std::to_string(task.y_channels));
  if (xs.h != h || xs.w != w) check_pixels("the restored image of '" + it.in.path + "'", xs.h, xs.w);
  return xs;
}

// Batches of up to --batch-size images of one size (and, for .npy inputs, one channel count), by headers only.
void make_batches(const RestoreSettings& s, RestorePlan& p, const std::vector<size_t>& todo) {
  std::map<std::tuple<int, int, int>, size_t> open;  // size + stored channels -> the batch being filled
  for (size_t i : todo) {
    Item& it = p.items[i];
    int c = 0, h = 0, w = 0;
    std::string why;
    try {
      if (!probe_input(it.in.path, &c, &h, &w, &why)) throw Error(why);
      it.xs = restored_shape(s, it, c, h, w);
    } catch (const Error& e) {
      if (!p.batch) throw;
      it.status = std::string("error: ") + e.what();
      continue;
    }
    const auto key = std::make_tuple(it.xs.h, it.xs.w, has_extension(it.in.path, ".npy") ? c : 0);
    auto f = open.find(key);
    if (f == open.end() || int(p.batches[f->second].items.size()) >= s.batch_size) {
      p.batches.push_back({{}, it.xs});
      open[key] = p.batches.size() - 1;
    }
    p.batches[open[key]].items.push_back(i);
  }
}

}  // namespace

size_t RestorePlan::images_to_restore() const {
  size_t n = 0;
  for (const auto& b : batches) n += b.items.size();
  return n;
}

RestorePlan plan_restore(const RestoreSettings& s) {
  RestorePlan p;
  const InputKind kind = input_kind(s.in);
  p.batch = kind != InputKind::File;
  if (p.batch)
    list_batch(s, kind, p);
  else
    list_single(s, p);
  check_outputs(s, p);
  make_batches(s, p, skip_existing(s, p));
  for (const Batch& b : p.batches) check_tile_fits(s.tile, b.xs.h, b.xs.w);  // --tile N larger than an image
  return p;
}

std::vector<float> to_unit(const float* v, size_t n) {
  std::vector<float> q(n);
  for (size_t i = 0; i < n; ++i) q[i] = (v[i] + 1.0f) * 0.5f;
  return q;
}

std::vector<float> as_written(const float* v, size_t n, int bits) {
  const float top = float((1u << bits) - 1);
  std::vector<float> q(n);
  for (size_t i = 0; i < n; ++i) {
    float px = (v[i] + 1.0f) * 0.5f * top;
    if (!(px > 0.0f)) px = 0.0f;
    if (px > top) px = top;
    q[i] = std::floor(px + 0.5f) / top;
  }
  return q;
}

void score(Item& it, const std::vector<float>& got, const std::vector<float>& ref, int c, int h, int w) {
  it.psnr = psnr(got.data(), ref.data(), got.size());
  it.ssim = ssim(got.data(), ref.data(), c, h, w);
}

}  // namespace reddiff
