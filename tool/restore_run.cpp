// load_engine and run_restore_plan: one batch at a time, decode -> measure -> solve -> write.
#include "tool/restore_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "base/error.h"
#include "engine/device_buffer.h"
#include "engine/image_io.h"
#include "engine/npy.h"
#include "operators/bins.h"
#include "solvers/factory.h"
#include "tool/progress_bar.h"

namespace fs = std::filesystem;

namespace reddiff {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The model must serve the settings: the class label for a class-conditional model, none for another,
// three image channels.
void check_model(const Model& m, int class_label) {
  const AdmConfig& c = m.config.adm;
  const int nc = c.num_classes;
  if (nc > 0 && class_label < 0)
    throw Error("the model is class-conditional: give --class K in [0, " + std::to_string(nc) + ")");
  if (nc > 0 && class_label >= nc)
    throw Error("--class " + std::to_string(class_label) + " is outside [0, " + std::to_string(nc) + ")");
  if (nc == 0 && class_label >= 0) throw Error("--class given but the model is unconditional");
  if (c.in_channels != 3) throw Error("the model takes " + std::to_string(c.in_channels) + " channels; images have 3");
}

std::string stem_of(const std::string& out) {
  fs::path p(out);
  return (p.parent_path() / p.stem()).string();
}

// One batch of a run: its images decoded, its measurement made, solved and written.
class BatchRun {
 public:
  BatchRun(const RestoreSettings& s, RestorePlan& p, RestoreEngine& e, StepProgressBar& bar, CsvWriter& csv,
           RestoreTotals& t)
      : s_(s), p_(p), e_(e), bar_(bar), csv_(csv), t_(t) {}

  void run(const Batch& b) {
    const auto t0 = Clock::now();
    decode(b);
    if (members_.empty()) return;
    try {
      xs_ = b.xs;
      xs_.n = int(members_.size());
      for (size_t i : members_) ids_.push_back(p_.items[i].in.id);
      const OperatorOptions o = bound_options();
      const Problem problem = make_problem(o, xs_, ids_, *e_.backend, e_.solver->needs_svd());
      ys_ = problem.y_shape();
      measure(problem, o);
      solve(problem);
      write(o, seconds_since(t0) / xs_.n);
    } catch (const std::exception& ex) {
      if (!p_.batch || dynamic_cast<const WriteError*>(&ex)) throw;  // a full disk fails every later image too
      fail_rest(dynamic_cast<const std::bad_alloc*>(&ex) ? std::string("out of memory") : std::string(ex.what()));
    }
  }

 private:
  // Reads the batch's files (measure: clean x; else the observation, or y itself for a .npy); a file that
  // fails is dropped from the batch.
  void decode(const Batch& b) {
    for (size_t i : b.items) {
      Item& it = p_.items[i];
      try {
        if (!s_.measure && s_.task->observation == Observation::File) {
          data_.emplace_back();  // the task's bind reads the file
        } else if (has_extension(it.in.path, ".npy")) {
          data_.push_back(read_npy(it.in.path).data);
        } else {
          const bool grey_expected = !s_.measure && s_.task->y_channels == 1;
          data_.push_back(load_image_rgb(it.in.path, s_.quiet || grey_expected).data);
        }
        members_.push_back(i);
      } catch (const std::exception& ex) {
        if (!p_.batch) throw;
        settle_failed(it, ex.what());
        bar_.images_done(1);
      }
    }
  }

  // The operator options of the batch: the run's, with the measurement of a bound task (jpeg, quant) from
  // the batch's files or images.
  OperatorOptions bound_options() {
    OperatorOptions o = s_.op;
    if (!s_.task->bind) return o;
    std::vector<std::string> files;
    for (size_t i : members_) files.push_back(p_.items[i].in.path);
    if (s_.task->observation != Observation::File || s_.measure)
      for (const auto& d : data_) x_.insert(x_.end(), d.begin(), d.end());
    s_.task->bind(o, files, x_.data(), xs_, s_.measure);
    return o;
  }

  // y on the host: A(x) + noise with --measure; a bound task's measurement; A(observation) for a task whose
  // IN is degraded like x; else the files themselves.
  void measure(const Problem& problem, const OperatorOptions& o) {
    const size_t nx1 = size_t(xs_.image_numel()), ny1 = size_t(ys_.image_numel());
    y_.assign(size_t(ys_.numel()), 0.0f);
    if (s_.task->bind) {
      y_ = bound_measurement(o, xs_);
      if (!s_.measure) x_.clear();  // nothing to score against
    } else if (s_.measure) {
      for (const auto& d : data_) x_.insert(x_.end(), d.begin(), d.end());
      apply_on_host(*problem.op, x_.data(), y_.data());
      add_noise(y_.data(), ys_, s_.op, ids_);
    } else if (s_.task->observation == Observation::Degraded) {
      std::vector<float> obs(size_t(xs_.numel()));
      for (size_t k = 0; k < data_.size(); ++k) {
        const auto& d = data_[k];
        float* dst = obs.data() + k * nx1;
        if (d.size() == nx1)
          std::copy(d.begin(), d.end(), dst);
        else if (d.size() == ny1)  // a .npy of y's channels: spread over x's
          for (int c = 0; c < xs_.c; ++c) std::copy(d.begin(), d.end(), dst + size_t(c) * ny1);
        else
          throw Error(p_.items[members_[k]].in.rel + ": measurement of the wrong size");
      }
      apply_on_host(*problem.op, obs.data(), y_.data());
    } else {
      for (size_t k = 0; k < data_.size(); ++k) {
        if (data_[k].size() != ny1) throw Error(p_.items[members_[k]].in.rel + ": measurement of the wrong size");
        std::copy(data_[k].begin(), data_[k].end(), y_.begin() + ptrdiff_t(k * ny1));
      }
    }
    data_.clear();
  }

  void solve(const Problem& problem) {
    Backend& be = *e_.backend;
    Solver& solver = *e_.solver;
    DeviceBuffer dy(be, y_.size() * 4), dx(be, size_t(xs_.numel()) * 4);
    be.upload(dy.get(), y_.data(), dy.bytes());
    t_.max_solver_bytes = std::max(t_.max_solver_bytes, solver.workspace_bytes(xs_, ys_) + dy.bytes() + dx.bytes());
    x_out_.resize(size_t(xs_.numel()));
    auto on_step = [&](const SolverStep& st) {
      bar_.step(st.index, st.steps);
      sample_device_memory();
      if (s_.save_every > 0 && st.index % s_.save_every == 0) save_trajectory(dx, st.index);
    };
    // Tiling (tool/tile_options.h): the solver evaluates the tiled network when the batch's images need it.
    solver.set_tiling(e_.tiling->for_batch(*e_.net, xs_, ids_));
    const auto t0 = Clock::now();
    solver.solve(problem, dy.as<float>(), dx.as<float>(), ids_, on_step);
    t_.solve_s += seconds_since(t0);
    t_.steps_run += solver.steps();
    be.download(x_out_.data(), dx.get(), dx.bytes());
  }

  void sample_device_memory() {
    size_t free_b = 0, total_b = 0;
    if (!e_.has_memory_info || !e_.backend->memory_info(&free_b, &total_b)) return;
    const size_t used = total_b - free_b;
    if (used > e_.used_before) t_.device_used_peak = std::max(t_.device_used_peak, used - e_.used_before);
  }

  // x after step `index` as OUTSTEM_trajectory/step_NNNN.png, per image.
  void save_trajectory(const DeviceBuffer& dx, int index) {
    e_.backend->download(x_out_.data(), dx.get(), dx.bytes());
    const size_t nx1 = size_t(xs_.image_numel());
    for (size_t k = 0; k < members_.size(); ++k) {
      const std::string dir = stem_of(p_.items[members_[k]].in.out) + "_trajectory";
      make_directories(dir);
      char name[32];
      std::snprintf(name, sizeof name, "/step_%04d.png", index);
      save_png(dir + name, x_out_.data() + k * nx1, xs_.c, xs_.h, xs_.w);
    }
  }

  // Every image of the batch: its result, its measurement (--save-measurement), its scores (--measure), its
  // CSV row and its line.
  void write(const OperatorOptions& o, double seconds_per_image) {
    const size_t nx1 = size_t(xs_.image_numel()), ny1 = size_t(ys_.image_numel());
    for (size_t k = 0; k < members_.size(); ++k) {
      Item& it = p_.items[members_[k]];
      const float* x = x_out_.data() + k * nx1;
      make_directories(parent_directory(it.in.out));
      save_png(it.in.out, x, xs_.c, xs_.h, xs_.w, -1.0f, 1.0f, s_.out_bits);
      if (!s_.save_measurement.empty())
        write_measurement(measurement_path(it), y_.data() + k * ny1, Shape4{1, ys_.c, ys_.h, ys_.w}, s_.task->view);
      const std::vector<float> written = as_written(x, nx1, s_.out_bits);  // in [0, 1]
      if (s_.measure) score(it, written, to_unit(x_.data() + k * nx1, nx1), xs_.c, xs_.h, xs_.w);
      if (s_.task->bind) {  // jpeg, quant: how much of the measurement the written result keeps
        std::vector<float> img(nx1);
        for (size_t i = 0; i < nx1; ++i) img[i] = 2.0f * written[i] - 1.0f;
        it.in_bins = bins_kept_fraction(o, xs_, int(k), img.data());
      }
      it.seconds = seconds_per_image;
      it.status = "ok";
      ++t_.restored;
      ++t_.done;
      if (csv_.is_open()) csv_.row(it.in.rel, it.status, it.psnr, it.ssim, it.seconds);
      if (!s_.quiet) bar_.note(s_.prefix() + line_for(it));
    }
    bar_.images_done(int(members_.size()));
  }

  // --save-measurement: the file itself for one image; in batch mode the folder, with the input's relative
  // name (.npy where a PNG would only be a view of the measurement).
  std::string measurement_path(const Item& it) const {
    if (!p_.batch) return s_.save_measurement;
    fs::path rel(it.in.rel);
    rel.replace_extension(s_.task->view == MeasurementView::Pixels ? ".png" : ".npy");
    const std::string path = (fs::path(s_.save_measurement) / rel).string();
    make_directories(parent_directory(path));
    return path;
  }

  std::string line_for(const Item& it) const {
    char scores[512];
    if (s_.measure && std::isfinite(it.ssim))
      std::snprintf(scores, sizeof scores, "PSNR %.2f dB  SSIM %.4f  ", it.psnr, it.ssim);
    else if (s_.measure)  // below SSIM's 11x11 window
      std::snprintf(scores, sizeof scores, "PSNR %.2f dB  SSIM n/a  ", it.psnr);
    else
      scores[0] = 0;
    if (std::isfinite(it.in_bins)) {
      const size_t used = std::strlen(scores);
      std::snprintf(scores + used, sizeof scores - used, "in bins %.2f %%  ", 100.0 * it.in_bins);
    }
    const std::string what =
        p_.batch ? "[" + std::to_string(t_.done) + "/" + std::to_string(p_.images_to_restore()) + "] " + it.in.rel +
                       " -> " + it.in.out
                 : "wrote " + it.in.out + " (" + std::to_string(xs_.w) + "x" + std::to_string(xs_.h) + ")";
    char tail[64];
    std::snprintf(tail, sizeof tail, "%.1f s", it.seconds);
    return what + "  " + scores + tail;
  }

  void settle_failed(Item& it, const std::string& why) {
    it.status = "error: " + why;
    ++t_.failed;
    ++t_.done;
    bar_.note(s_.prefix() + it.in.rel + ": " + it.status);
    if (csv_.is_open()) csv_.row(it.in.rel, it.status, it.psnr, it.ssim, it.seconds);
  }

  // The batch failed as a whole: its images not written yet fail with it.
  void fail_rest(const std::string& why) {
    int settled = 0;
    for (size_t i : members_) {
      Item& it = p_.items[i];
      if (it.status == "ok") continue;  // written before the failure
      settle_failed(it, why);
      ++settled;
    }
    bar_.images_done(settled);
  }

  const RestoreSettings& s_;
  RestorePlan& p_;
  RestoreEngine& e_;
  StepProgressBar& bar_;
  CsvWriter& csv_;
  RestoreTotals& t_;
  std::vector<size_t> members_;
  std::vector<std::vector<float>> data_;
  std::vector<uint64_t> ids_;
  Shape4 xs_, ys_;
  std::vector<float> x_, y_, x_out_;  // --measure's clean images, the measurements, the results (host)
};

}  // namespace

RestoreEngine load_engine(const RestoreSettings& s) {
  const auto t0 = Clock::now();
  RestoreEngine e;
  const std::string path = s.model.model_path();
  e.backend = s.model.make_backend();
  size_t free_b = 0;
  e.has_memory_info = e.backend->memory_info(&free_b, &e.device_total);
  e.used_before = e.device_total - free_b;
  e.model = Model::load(path);
  check_model(*e.model, s.solver.settings.class_label(s.solver.algo));
  check_tile_model(s.tile, e.model->config.adm);
  e.net = std::make_unique<Network>(*e.model, *e.backend, s.model.precision());
  e.solver = make_solver(s.solver.algo, s.solver.settings, *e.net);
  e.tiling = std::make_unique<RestoreTiling>(s.tile, s.batch_size, s.op.seed,
                                             s.solver.settings.class_label(s.solver.algo), s.quiet, s.prefix());
  e.load_s = seconds_since(t0);
  return e;
}

RestoreTotals run_restore_plan(const RestoreSettings& s, RestorePlan& p, RestoreEngine* e) {
  RestoreTotals t;
  if (p.batch) make_directories(p.out_dir);
  CsvWriter csv;
  if (p.batch && !s.csv.empty()) {
    make_directories(parent_directory(s.csv));
    csv.open(s.csv);
    for (const Item& it : p.items)
      if (it.status != "pending") csv.row(it.in.rel, it.status, it.psnr, it.ssim, it.seconds);
  }
  for (const Item& it : p.items)
    if (it.failed()) {  // printed even with --quiet
      std::fprintf(stderr, "%s%s: %s\n", s.prefix().c_str(), it.in.rel.c_str(), it.status.c_str());
      ++t.failed;
    }
  const int steps = s.solver.settings.steps(s.solver.algo);
  StepProgressBar bar(int64_t(p.batches.size()) * steps, int(p.images_to_restore()), !s.quiet);
  for (const Batch& b : p.batches) BatchRun(s, p, *e, bar, csv, t).run(b);
  bar.finish();
  csv.close();
  return t;
}

}  // namespace reddiff
