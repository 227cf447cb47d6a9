// Command-line options of the degradation operators (cxxopts), shared by `reddiff degrade` and the
// restoration commands: registration, parsing into an OperatorOptions and notes on options that do
// not apply. The checks themselves are operators/options.cpp (validate_operator_options).
#include "tool/operator_options.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "base/error.h"

namespace reddiff {

void add_operator_options(cxxopts::Options& opts) {
  OperatorOptions d;
  auto s = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", v);
    return std::string(b);
  };
  opts.add_options("Degradation")(
      "mask",
      "inpaint: box|random|half|freeform, or a mask file (image: white = keep; .npy: > 0.5 = keep; any size "
      "with the image's aspect ratio, resized nearest)",
      cxxopts::value<std::string>()->default_value(d.mask),
      "M")("box-size", "inpaint box: side of the square hole in pixels (0: half the short side)",
           cxxopts::value<std::string>()->default_value(std::to_string(d.box_size)),
           "N")("random-position", "inpaint box: put the box at a seeded random position instead of the centre")(
      "fraction", "inpaint random|freeform: fraction of pixels removed",
      cxxopts::value<std::string>()->default_value(s(d.fraction)),
      "F")("side", "inpaint half: the half removed, left|right|top|bottom",
           cxxopts::value<std::string>()->default_value(d.side),
           "S")("invert", "inpaint: swap kept and removed pixels (any mask)")(
      "scale", "sr: downsampling factor, 2|4|8 (pool) or 2|4 (bicubic)",
      cxxopts::value<std::string>()->default_value(std::to_string(d.scale)),
      "N")("sr-kernel", "sr: pool (average pooling, pinv nearest) | bicubic (a = -0.5, reflect boundary)",
           cxxopts::value<std::string>()->default_value(d.sr_kernel),
           "K")("blur", "deblur: gaussian|uniform|motion, or a kernel file (image or 2-d .npy, normalised to sum 1)",
                cxxopts::value<std::string>()->default_value(d.blur),
                "B")("blur-sigma", "deblur gaussian: standard deviation in pixels",
                     cxxopts::value<std::string>()->default_value(s(d.blur_sigma)),
                     "S")("blur-size", "deblur: odd kernel side (0: gaussian 2*ceil(3 sigma)+1, uniform 9, motion 61)",
                          cxxopts::value<std::string>()->default_value(std::to_string(d.blur_size)),
                          "N")("motion-intensity", "deblur motion: trajectory shakiness, 0 (straight) .. 1",
                               cxxopts::value<std::string>()->default_value(s(d.motion_intensity)), "I")(
      "wiener-reg", "deblur: Tikhonov weight of the Wiener pseudo-inverse (raised to (2 sigma_y)^2 if larger)",
      cxxopts::value<std::string>()->default_value(s(d.wiener_reg)),
      "L")("oversample", "phase-retrieval: zero padding round(oversample/8 * size) per side (2: 256 -> 384)",
           cxxopts::value<std::string>()->default_value(s(d.oversample)),
           "O")("sigma-y",
                "measurement noise std on the [0,1] pixel scale (the RED-diff convention): the std in [-1,1] "
                "is 2*sigma_y; for poisson, the std at white",
                cxxopts::value<std::string>()->default_value(s(d.sigma_y)), "S")(
      "noise-std", "alternative to --sigma-y: noise std in [-1,1] units (the DPS convention), = 2*sigma_y",
      cxxopts::value<std::string>(),
      "S")("noise", "noise model: gaussian | poisson (photon count 1/sigma_y^2 at white)",
           cxxopts::value<std::string>()->default_value(d.noise),
           "N")("data-term",
                "jpeg, quant: l2 (the official RED-diff formulation: L2 to the decoded image, straight-through "
                "rounding; better on the validation photos) | interval (squared distance to the measured "
                "quantisation bins)",
                cxxopts::value<std::string>()->default_value(d.data_term),
                "T")("bits", "quant: bits per channel of the measured image, 1..8",
                     cxxopts::value<std::string>()->default_value(std::to_string(d.quant_bits)), "N")(
      "quality",
      "jpeg --measure, degrade jpeg: the JPEG quality the clean image is encoded at (libjpeg, IJG tables), "
      "1..100",
      cxxopts::value<std::string>()->default_value(std::to_string(d.jpeg_quality)),
      "QF")("subsampling", "jpeg --measure, degrade jpeg: chroma subsampling of the encoding, 444|422|420",
            cxxopts::value<std::string>()->default_value(d.jpeg_subsampling),
            "S")("compose",
                 "apply these operators first, in order (comma list of inpaint, deblur, hdr), then the task's own: "
                 "y = A_task(A_k(...A_1(x))), e.g. sr --compose deblur for a blurred, then downsampled image",
                 cxxopts::value<std::string>()->default_value(""),
                 "OPS")("seed", "seed of masks, motion kernels and noise (each image draws from (seed, image id))",
                        cxxopts::value<std::string>()->default_value("0"), "N");
}

nlohmann::json operator_options_json(const OperatorOptions& o) {
  return {{"task", o.task},
          {"mask", o.mask},
          {"box_size", o.box_size},
          {"fraction", o.fraction},
          {"side", o.side},
          {"invert", o.invert},
          {"random_position", o.random_position},
          {"scale", o.scale},
          {"sr_kernel", o.sr_kernel},
          {"blur", o.blur},
          {"blur_sigma", o.blur_sigma},
          {"blur_size", o.blur_size},
          {"motion_intensity", o.motion_intensity},
          {"wiener_reg", o.wiener_reg},
          {"oversample", o.oversample},
          {"data_term", o.data_term},
          {"bits", o.quant_bits},
          {"quality", o.jpeg_quality},
          {"subsampling", o.jpeg_subsampling},
          {"sigma_y", o.sigma_y},
          {"noise", o.noise},
          {"seed", o.seed}};
}

// Numbers are registered as strings and converted here, so that a bad value names its option.
double option_number(const cxxopts::ParseResult& r, const char* name) {
  const std::string v = r[name].as<std::string>();
  size_t used = 0;
  double d = 0.0;
  try {
    d = std::stod(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != v.size() || !std::isfinite(d))
    throw Error(std::string("--") + name + ": '" + v + "' is not a number");
  return d;
}
static int integer(const cxxopts::ParseResult& r, const char* name) {
  const std::string v = r[name].as<std::string>();
  const double d = option_number(r, name);
  if (d != std::floor(d) || std::fabs(d) > 1e9)
    throw Error(std::string("--") + name + ": '" + v + "' is not an integer");
  return int(d);
}
int64_t option_integer(const cxxopts::ParseResult& r, const char* name, int64_t lo, int64_t hi) {
  const std::string v = r[name].as<std::string>();
  const double d = option_number(r, name);
  if (d != std::floor(d)) throw Error(std::string("--") + name + ": '" + v + "' is not an integer");
  if (d < double(lo) || d > double(hi))
    throw Error(std::string("--") + name + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                ", got " + v);
  return int64_t(d);
}
uint64_t option_unsigned(const cxxopts::ParseResult& r, const char* name) {
  const std::string v = r[name].as<std::string>();
  size_t used = 0;
  unsigned long long u = 0;
  try {
    if (!v.empty() && v[0] != '-') u = std::stoull(v, &used, 0);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != v.size())
    throw Error(std::string("--") + name + ": '" + v + "' is not a non-negative integer");
  return uint64_t(u);
}

OperatorOptions operator_options_from(const cxxopts::ParseResult& r, const std::string& task) {
  OperatorOptions o;
  o.task = task;
  o.mask = r["mask"].as<std::string>();
  o.box_size = integer(r, "box-size");
  o.random_position = r.count("random-position") > 0;
  o.fraction = option_number(r, "fraction");
  o.side = r["side"].as<std::string>();
  o.invert = r.count("invert") > 0;
  o.scale = integer(r, "scale");
  o.sr_kernel = r["sr-kernel"].as<std::string>();
  o.blur = r["blur"].as<std::string>();
  o.blur_sigma = option_number(r, "blur-sigma");
  o.blur_size = integer(r, "blur-size");
  o.motion_intensity = option_number(r, "motion-intensity");
  o.wiener_reg = option_number(r, "wiener-reg");
  o.oversample = option_number(r, "oversample");
  o.data_term = r["data-term"].as<std::string>();
  o.quant_bits = integer(r, "bits");
  o.jpeg_quality = integer(r, "quality");
  o.jpeg_subsampling = r["subsampling"].as<std::string>();
  o.sigma_y = option_number(r, "sigma-y");
  if (r.count("noise-std")) {
    if (r.count("sigma-y")) throw Error("--sigma-y and --noise-std give the same noise level: use one of them");
    const double s = option_number(r, "noise-std");
    if (!std::isfinite(s) || s < 0.0) throw Error("--noise-std must be >= 0, got " + std::to_string(s));
    o.sigma_y = s / 2.0;
  }
  o.noise = r["noise"].as<std::string>();
  o.seed = option_unsigned(r, "seed");
  {
    std::stringstream ss(r["compose"].as<std::string>());
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty()) o.compose.push_back(item);
  }
  validate_operator_options(o);

  // Options given that this task does not read.
  static const std::vector<std::pair<std::string, std::set<std::string>>> used = {{"mask", {"inpaint"}},
                                                                                  {"box-size", {"inpaint"}},
                                                                                  {"random-position", {"inpaint"}},
                                                                                  {"fraction", {"inpaint"}},
                                                                                  {"side", {"inpaint"}},
                                                                                  {"invert", {"inpaint"}},
                                                                                  {"scale", {"sr"}},
                                                                                  {"sr-kernel", {"sr"}},
                                                                                  {"blur", {"deblur"}},
                                                                                  {"blur-sigma", {"deblur"}},
                                                                                  {"blur-size", {"deblur"}},
                                                                                  {"motion-intensity", {"deblur"}},
                                                                                  {"wiener-reg", {"deblur"}},
                                                                                  {"oversample", {"phase-retrieval"}},
                                                                                  {"data-term", {"jpeg", "quant"}},
                                                                                  {"bits", {"quant"}},
                                                                                  {"quality", {"jpeg"}},
                                                                                  {"subsampling", {"jpeg"}}};
  auto uses = [&](const std::string& t) {
    return t == task || std::find(o.compose.begin(), o.compose.end(), t) != o.compose.end();
  };
  for (const auto& u : used)
    if (r.count(u.first) && std::none_of(u.second.begin(), u.second.end(), uses))
      std::fprintf(stderr, "reddiff: note: --%s has no effect for task %s\n", u.first.c_str(), task.c_str());
  if (uses("inpaint")) {
    auto note = [&](const char* opt, bool applies) {
      if (r.count(opt) && !applies)
        std::fprintf(stderr, "reddiff: note: --%s has no effect with --mask %s\n", opt, o.mask.c_str());
    };
    note("box-size", o.mask == "box");
    note("random-position", o.mask == "box");
    note("fraction", o.mask == "random" || o.mask == "freeform");
    note("side", o.mask == "half");
  }
  if (uses("deblur")) {
    if (r.count("blur-sigma") && o.blur != "gaussian")
      std::fprintf(stderr, "reddiff: note: --blur-sigma has no effect with --blur %s\n", o.blur.c_str());
    if (r.count("motion-intensity") && o.blur != "motion")
      std::fprintf(stderr, "reddiff: note: --motion-intensity has no effect with --blur %s\n", o.blur.c_str());
  }
  return o;
}

}  // namespace reddiff
