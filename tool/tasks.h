// The restoration tasks, one entry each in one table (tasks.cpp). A task is resolved once, at the command
// line, into its TaskSpec: the command and its help, every algorithm's preset, how the image's shape follows
// from the measurement's, what IN is, how a measurement is written. Nothing downstream compares task names.
//
// The operator itself is operators/ (make_operator, keyed by OperatorOptions::task = TaskSpec::name), its
// command-line options tool/operator_options.cpp. Adding a task is one entry here and its operator
// (docs/architecture.md, "Adding a task").
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/tensor.h"
#include "operators/operator.h"
#include "solvers/factory.h"
#include "solvers/solver.h"

namespace reddiff {

// What IN is in the default mode (without --measure).
enum class Observation {
  Measurement,  // y itself: an image, or a .npy as `reddiff degrade` writes it
  Degraded,     // an image shaped like x and y = A(IN): what the operator drops is ignored (inpaint's holes,
                // colorize's colours); a .npy of y's channels is spread over x's first
  NpyOnly,      // only the .npy y: a PNG of the measurement is a view, not the data (phase-retrieval)
  File,         // the file itself, read by the task's bind (jpeg: the JPEG's coefficients), not decoded
};

// How a measurement is written as PNG (.npy keeps the values).
enum class MeasurementView {
  Pixels,        // [-1, 1] clamped to 8 bits
  LogMagnitude,  // log(1 + y) / log(1 + p), p the 99.5th percentile: Fourier magnitudes, for viewing
  File,          // the measurement is a file the task's encode makes (jpeg: a .jpg), not an array
};

// What `reddiff degrade` can write beside the measurement.
enum class DegradeExtra { None, Mask, Kernel };

struct TaskSpec {
  std::string name;                   // the command (`reddiff NAME`) and the operator's task
  int order = 0;                      // position in `reddiff --help`
  std::string summary;                // one line for `reddiff --help`
  std::string formula;                // y = A(x) in one line, for `reddiff degrade --help`
  std::string in_help;                // what IN is in the default mode, for `reddiff NAME --help`
  std::vector<std::string> examples;  // command lines for --help

  // Every algorithm's defaults for this task, and where each algorithm's values come from.
  SolverSettings preset;
  std::map<Algorithm, std::string> preset_source;

  // The measurement.
  int y_channels = 3;  // channels of y (colorize: 1)
  Observation observation = Observation::Measurement;
  // The image shape for a measurement shape (default mode); null: the measurement's size with 3 channels.
  Shape4 (*x_shape)(const OperatorOptions& o, Shape4 y) = nullptr;
  MeasurementView view = MeasurementView::Pixels;
  DegradeExtra degrade_extra = DegradeExtra::None;

  // Tasks whose operator is bound to its measurement (operators/bins.h: jpeg, quant); null for the others.
  // bind puts a batch's measurement into o: from `files` (IN, Observation::File) or from `images`, the
  // decoded batch [xs.n, 3, h, w] in [-1, 1] (clean with --measure: the measurement is made from them).
  // The measurement y is then bound_measurement(o, xs). A bad file is a one-line reddiff::Error naming it.
  void (*bind)(OperatorOptions& o, const std::vector<std::string>& files, const float* images, Shape4 xs,
               bool measure) = nullptr;
  // MeasurementView::File: the measurement file of a clean image [3, h, w] (jpeg: its JPEG bytes).
  std::vector<uint8_t> (*encode)(const OperatorOptions& o, const float* image, int h, int w) = nullptr;
  std::string file_extension;  // MeasurementView::File: ".jpg"

  // OperatorOptions{} for this task (the operator's defaults).
  OperatorOptions operator_defaults() const;
  // x's shape (n = 1) for a measurement of y's shape, or a reddiff::Error when y fits no image.
  Shape4 image_shape(const OperatorOptions& o, Shape4 y) const;
};

// Every task, in the order of `reddiff --help`.
const std::vector<TaskSpec>& tasks();
// The task called `name`, or a reddiff::Error "unknown task 'NAME' (expected inpaint, sr, ...)".
const TaskSpec& task_spec(const std::string& name);

// Writes one measurement y of shape ys: .npy as float32 [n, c, h, w] (unclamped), anything else as PNG in
// the task's view.
void write_measurement(const std::string& path, const float* y, Shape4 ys, MeasurementView view);

}  // namespace reddiff
