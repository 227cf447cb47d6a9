// Running a restoration plan: the model, network and solver loaded once (RestoreEngine), then every batch
// decoded, measured (y from IN, or A(IN) + noise with --measure), solved and written, with the progress bar,
// the per-image lines and the batch CSV as they come. In batch mode a failing image or batch is recorded and
// the run goes on; a single image's failure is a reddiff::Error.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "engine/backend.h"
#include "engine/model.h"
#include "engine/network.h"
#include "solvers/solver.h"
#include "tool/restore_plan.h"
#include "tool/restore_settings.h"
#include "tool/tile_options.h"

namespace reddiff {

struct RestoreEngine {
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Model> model;
  std::unique_ptr<Network> net;
  std::unique_ptr<Solver> solver;
  std::unique_ptr<RestoreTiling> tiling;     // per batch: the whole-image network or the tiled one
  double load_s = 0;                         // backend + model + network + solver
  bool has_memory_info = false;              // the backend reports device memory (Backend::memory_info)
  size_t used_before = 0, device_total = 0;  // the device's used memory before the model, its size
};

// The backend, model, network and solver of the settings. A model that cannot serve them (--class, channels) is
// a one-line reddiff::Error.
RestoreEngine load_engine(const RestoreSettings& s);

struct RestoreTotals {
  int done = 0, restored = 0, failed = 0;  // images settled, restored, failed (the plan's errors included)
  double solve_s = 0;
  int64_t steps_run = 0;
  size_t max_solver_bytes = 0;  // the largest batch: the solver's workspace, y and x
  size_t device_used_peak = 0;  // the device's used memory above RestoreEngine::used_before, sampled every step
};

// Restores the plan's batches (none: only the plan's errors are reported); e is null when there are none.
RestoreTotals run_restore_plan(const RestoreSettings& s, RestorePlan& p, RestoreEngine* e);

}  // namespace reddiff
