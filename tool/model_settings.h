// The options of every command that runs the network (the restoration commands, sample, forward, bench):
// --model --device --precision --threads, declared, read, checked and reported in one place.
#pragma once
#include <cxxopts.hpp>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/dtype.h"
#include "engine/backend.h"
#include "engine/model.h"

namespace reddiff {

struct ModelSettings {
  // One precision (the restoration commands, sample, forward) or a comma list of them (bench).
  enum class Precisions { One, List };

  std::string model;              // --model as given; empty: $REDDIFF_MODEL, else the bundled model
  std::string device = "auto";    // auto|cpu|cuda, checked; "auto" is resolved by resolved_device()
  std::vector<DType> precisions;  // One: exactly one (default f32); List: empty when not given
  int threads = 0;                // CPU threads, 0: all cores

  // Registers the four options in `group`.
  static void declare(cxxopts::Options& opts, const std::string& group, Precisions form = Precisions::One);
  // Reads and checks them: a bad value is a one-line reddiff::Error naming the option. Nothing is opened.
  static ModelSettings from(const cxxopts::ParseResult& r, Precisions form = Precisions::One);

  DType precision() const { return precisions.front(); }
  // --model, else $REDDIFF_MODEL, else the bundled model; an Error when no --model is given and the bundled
  // model is missing.
  std::string model_path() const;
  std::unique_ptr<Model> load_model() const { return Model::load(model_path()); }
  // "cpu" or "cuda" ("auto": CUDA when a device is usable); an Error for cuda without a usable device.
  std::string resolved_device() const;
  std::unique_ptr<Backend> make_backend() const;
  // {"device", "precision", "threads"} as given (the report's "settings").
  nlohmann::json to_json() const;
};

}  // namespace reddiff
