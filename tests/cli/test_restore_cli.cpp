// `reddiff TASK [options] IN OUT` end to end, on tiny images with a tiny random-weight model and 1-3 steps:
// outputs and their sizes, --measure reports, batch folders with a corrupt file, resuming, --shard, and bad
// input (one line, non-zero exit, no output file).
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/backend.h"
#include "engine/image_io.h"
#include "engine/model_config.h"
#include "random_model_file.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace reddiff;
using reddiff_test::run_command;
using reddiff_test::RunResult;

namespace {

std::string dir(const std::string& name) {
  const std::string d = reddiff_test::testdata("cli/" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

AdmConfig tiny_config() {
  AdmConfig c;
  c.image_size = 32, c.model_channels = 32, c.channel_mult = {1, 2}, c.num_res_blocks = 1;
  c.attention_resolutions = {16}, c.num_head_channels = 16, c.learn_sigma = false, c.out_channels = 3;
  return c;
}

// A model file with random weights under testdata/cli.
std::string write_model(const std::string& name, const AdmConfig& c, const AdmConfig* declared = nullptr) {
  const std::string path = reddiff_test::testdata("cli/" + name);
  reddiff_test::write_random_model(path, c, 1, declared);
  return path;
}

const std::string& model() {
  static const std::string m = write_model("tiny.safetensors", tiny_config());
  return m;
}

// A smooth colour test image (c channels) in [-1, 1], saved as PNG.
void write_image(const std::string& path, int h, int w, int c = 3, int variant = 0) {
  std::vector<float> px(size_t(c) * h * w);
  for (int k = 0; k < c; ++k)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        px[(size_t(k) * h + y) * w + x] =
            0.8f * std::sin(0.3f * x + 0.7f * k + variant) * std::cos(0.2f * y - 0.4f * k + 0.5f * variant);
  fs::create_directories(fs::path(path).parent_path());
  save_png(path, px.data(), c, h, w);
}

void write_text(const std::string& path, const std::string& s) {
  std::ofstream f(path, std::ios::binary);
  f << s;
}

std::string slurp(const std::string& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

RunResult rd(const std::string& args) { return run_command(reddiff_test::binary("reddiff") + " " + args); }
// The common options of a fast run.
// One thread: the images are tiny, and OpenMP spinning on a loaded 2-core machine costs seconds a run.
std::string fast(int steps = 3) {
  return "--model " + model() + " --device cpu --threads 1 --steps " + std::to_string(steps) + " ";
}

int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

struct Png {
  int c, h, w;
  std::vector<float> data;
};
Png read_png(const std::string& p) {
  Image i = load_image_raw(p);
  return {i.c, i.h, i.w, i.data};
}

// file -> (status, psnr) from a --csv file
std::map<std::string, std::pair<std::string, std::string>> read_csv(const std::string& path) {
  std::map<std::string, std::pair<std::string, std::string>> rows;
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  REQUIRE(line == "file,status,psnr,ssim,seconds");
  while (std::getline(f, line)) {
    // the test names need no quoting, but statuses may: "error: ..." with commas is quoted
    std::string file = line.substr(0, line.find(','));
    std::string rest = line.substr(file.size() + 1), status, psnr;
    if (!rest.empty() && rest[0] == '"') {
      size_t e = rest.find("\",", 1);
      status = rest.substr(1, e - 1);
      rest = rest.substr(e + 2);
    } else {
      status = rest.substr(0, rest.find(','));
      rest = rest.substr(status.size() + 1);
    }
    psnr = rest.substr(0, rest.find(','));
    rows[file] = {status, psnr};
  }
  return rows;
}

}  // namespace

TEST_CASE("reddiff --help lists the restoration tasks and each task's help is complete", "[cli]") {
  RunResult top = rd("--help");
  CHECK(top.exit_code == 0);
  for (const char* t : {"inpaint", "sr", "deblur", "colorize", "denoise", "phase-retrieval", "hdr"}) {
    INFO(t);
    CHECK(top.output.find(std::string("  ") + t + " ") != std::string::npos);
    RunResult h = rd(std::string(t) + " --help");
    CHECK(h.exit_code == 0);
    for (const char* opt : {"--model",
                            "--device",
                            "--precision",
                            "--batch-size",
                            "--threads",
                            "--steps",
                            "--lr",
                            "--lambda",
                            "--weighting",
                            "--sigma-x0",
                            "--init",
                            "--seed",
                            "--class",
                            "--t-start",
                            "--t-end",
                            "--measure",
                            "--save-measurement",
                            "--json",
                            "--save-every",
                            "--quiet",
                            "--overwrite",
                            "--shard",
                            "--csv",
                            "--mask",
                            "--scale",
                            "--blur",
                            "--sigma-y",
                            "--oversample",
                            "Preset for"})
      CHECK(h.output.find(opt) != std::string::npos);
  }
  CHECK(rd("sr --help").output.find("Preset for sr: 100 steps, lr 0.3, lambda 0.05") != std::string::npos);
}

TEST_CASE("each task restores an observation to an image of the right size", "[cli]") {
  const std::string d = dir("single");
  write_image(d + "/photo.png", 32, 32);
  write_image(d + "/odd.png", 23, 29);
  write_image(d + "/small.png", 8, 8);
  write_image(d + "/grey.png", 24, 32, 1);

  struct Case {
    std::string task, in, extra;
    int h, w;
  };
  std::vector<Case> cases = {{"inpaint", "photo.png", "--mask box", 32, 32},
                             {"inpaint", "odd.png", "--mask half", 23, 29},  // padded by the network, cropped back
                             {"sr", "small.png", "--scale 4", 32, 32},
                             {"deblur", "photo.png", "--blur gaussian --blur-sigma 1", 32, 32},
                             {"colorize", "grey.png", "", 24, 32},
                             {"denoise", "photo.png", "", 32, 32},
                             {"hdr", "photo.png", "", 32, 32}};
  for (const auto& c : cases) {
    INFO(c.task << " " << c.in);
    const std::string out = d + "/out_" + c.task + "_" + c.in;
    RunResult r = rd(c.task + " " + fast() + c.extra + " " + d + "/" + c.in + " " + out);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    Png p = read_png(out);
    CHECK(p.c == 3);
    CHECK(p.h == c.h);
    CHECK(p.w == c.w);
  }
  // phase retrieval restores from the .npy magnitudes that `reddiff degrade` writes (32 + 2*8 = 48 per side)
  RunResult dg = rd("degrade phase-retrieval -q " + d + "/photo.png " + d + "/mag.npy");
  REQUIRE(dg.exit_code == 0);
  RunResult r = rd("phase-retrieval " + fast() + d + "/mag.npy " + d + "/out_phase.png");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  Png p = read_png(d + "/out_phase.png");
  CHECK((p.h == 32 && p.w == 32));
  // OUT may be a folder: the output is named after IN
  REQUIRE(rd("denoise -q " + fast(1) + d + "/photo.png " + d + "/").exit_code == 0);
  CHECK(fs::exists(d + "/photo.png"));
}

TEST_CASE("--measure makes the measurement, scores the result and reports it", "[cli]") {
  const std::string d = dir("measure");
  write_image(d + "/clean.png", 32, 32);
  RunResult r = rd("inpaint " + fast() + "--measure --mask box --sigma-y 0.05 --json " + d + "/r.json --csv " + d +
                   "/r.csv --save-measurement " + d + "/y.png --save-every 1 " + d + "/clean.png " + d + "/out.png");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("PSNR") != std::string::npos);
  CHECK(r.output.find("SSIM") != std::string::npos);
  CHECK(read_png(d + "/out.png").h == 32);
  CHECK(read_png(d + "/y.png").h == 32);
  for (int s = 1; s <= 3; ++s) CHECK(fs::exists(d + "/out_trajectory/step_000" + std::to_string(s) + ".png"));

  nlohmann::json j = nlohmann::json::parse(slurp(d + "/r.json"));
  CHECK(j["task"] == "inpaint");
  CHECK(j["mode"] == "measure");
  CHECK(j["preset"]["lr"].get<double>() == 0.5);
  CHECK(j["solver"]["steps"] == 3);
  CHECK(j["operator"]["sigma_y"].get<double>() == 0.05);
  CHECK(j["model"]["config"]["model_channels"] == 32);
  CHECK(j["device"].get<std::string>().find("cpu") != std::string::npos);
  CHECK(j["precision"] == "f32");
  CHECK(j["timings"]["load_s"].is_number());
  CHECK(j["timings"]["steps_per_s"].is_number());
  CHECK(j["memory"]["peak_device_bytes_estimate"].get<double>() > 0);
  REQUIRE(j["metrics"]["psnr"].is_number());
  CHECK(j["metrics"]["ssim"].is_number());
  CHECK(j["images"][0]["psnr"].get<double>() == j["metrics"]["psnr"].get<double>());
  auto rows = read_csv(d + "/r.csv");
  REQUIRE(rows.count("clean.png"));
  CHECK(rows["clean.png"].first == "ok");
  CHECK(!rows["clean.png"].second.empty());

  // sr: the saved measurement is the small image
  REQUIRE(rd("sr -q " + fast(1) + "--measure --scale 4 --save-measurement " + d + "/ysr.png " + d + "/clean.png " + d +
             "/sr.png")
              .exit_code == 0);
  CHECK(read_png(d + "/ysr.png").w == 8);
  CHECK(read_png(d + "/sr.png").w == 32);
}

TEST_CASE("batch mode: a corrupt file is reported, listed and skipped; the rest is restored", "[cli]") {
  const std::string d = dir("batch");
  const std::string in = d + "/in", out = d + "/out";
  write_image(in + "/a.png", 32, 32, 3, 0);
  write_image(in + "/b.png", 32, 32, 3, 1);
  write_image(in + "/c.png", 24, 24, 3, 2);
  write_image(in + "/sub/d.png", 32, 32, 3, 3);
  write_text(in + "/bad.png", "this is not a PNG");
  write_text(in + "/notes.txt", "ignored: not an image");
  RunResult r = rd("inpaint " + fast() + "--measure --batch-size 2 --csv " + d + "/r.csv --json " + d + "/r.json " +
                   in + " " + out);
  INFO(r.output);
  CHECK(r.exit_code == 3);
  CHECK(r.output.find("bad.png") != std::string::npos);
  for (const char* f : {"a.png", "b.png", "c.png", "sub/d.png"}) CHECK(fs::exists(out + "/" + f));
  CHECK(read_png(out + "/c.png").h == 24);
  CHECK(!fs::exists(out + "/bad.png"));
  auto rows = read_csv(d + "/r.csv");
  CHECK(rows.size() == 5);
  CHECK(rows["bad.png"].first.rfind("error: ", 0) == 0);
  for (const char* f : {"a.png", "b.png", "c.png", "sub/d.png"}) {
    CHECK(rows[f].first == "ok");
    CHECK(!rows[f].second.empty());
  }
  nlohmann::json j = nlohmann::json::parse(slurp(d + "/r.json"));
  CHECK(j["counts"]["failed"] == 1);
  CHECK(j["counts"]["restored"] == 4);

  // An image's result does not depend on its batch: a.png alone (same id: its name) gives the same image.
  RunResult one = rd("inpaint -q " + fast() + "--measure " + in + "/a.png " + d + "/a_single.png");
  REQUIRE(one.exit_code == 0);
  Png p1 = read_png(out + "/a.png"), p2 = read_png(d + "/a_single.png");
  REQUIRE(p1.data.size() == p2.data.size());
  float maxdiff = 0;
  for (size_t i = 0; i < p1.data.size(); ++i) maxdiff = std::max(maxdiff, std::fabs(p1.data[i] - p2.data[i]));
  CHECK(maxdiff <= 1.0f / 255.0f + 1e-6f);
}

TEST_CASE("batch mode: an image the mask does not fit fails alone", "[cli]") {
  const std::string d = dir("batch_mask");
  write_image(d + "/in/square.png", 32, 32);
  write_image(d + "/in/wide.png", 16, 32);
  write_image(d + "/mask.png", 64, 64, 1);  // any size with the image's aspect ratio
  RunResult r =
      rd("inpaint -q " + fast(1) + "--mask " + d + "/mask.png --csv " + d + "/r.csv " + d + "/in " + d + "/out");
  INFO(r.output);
  CHECK(r.exit_code == 3);
  CHECK(lines(r.output) == 1);  // the error, printed even with -q
  CHECK(r.output.find("wide.png") != std::string::npos);
  CHECK(fs::exists(d + "/out/square.png"));
  CHECK(!fs::exists(d + "/out/wide.png"));
  auto rows = read_csv(d + "/r.csv");
  CHECK(rows["square.png"].first == "ok");
  CHECK(rows["wide.png"].first.find("aspect") != std::string::npos);
}

TEST_CASE("batch mode resumes: existing outputs are skipped unless --overwrite", "[cli]") {
  const std::string d = dir("resume");
  const std::string in = d + "/in", out = d + "/out";
  for (int i = 0; i < 3; ++i) write_image(in + "/img" + std::to_string(i) + ".png", 16, 16, 3, i);
  write_image(out + "/img1.png", 5, 5);  // a result from an earlier, interrupted run
  RunResult r = rd("denoise " + fast(1) + "--csv " + d + "/r.csv " + in + " " + out);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(read_png(out + "/img1.png").h == 5);  // untouched
  CHECK(read_png(out + "/img0.png").h == 16);
  CHECK(read_png(out + "/img2.png").h == 16);
  auto rows = read_csv(d + "/r.csv");
  CHECK(rows["img1.png"].first == "exists");
  CHECK(rows["img0.png"].first == "ok");
  // a list file names the same images (relative to the list's folder)
  write_text(d + "/list.txt", "# images\nin/img1.png\n\nin/img0.png\n");
  REQUIRE(rd("denoise -q --overwrite " + fast(1) + d + "/list.txt " + d + "/out_list").exit_code == 0);
  CHECK(read_png(d + "/out_list/in/img1.png").h == 16);
  CHECK(fs::exists(d + "/out_list/in/img0.png"));
  CHECK(!fs::exists(d + "/out_list/in/img2.png"));
  REQUIRE(rd("denoise -q --overwrite " + fast(1) + in + " " + out).exit_code == 0);
  CHECK(read_png(out + "/img1.png").h == 16);
}

TEST_CASE("--shard i/n splits a folder: every file exactly once", "[cli]") {
  const std::string d = dir("shard");
  const std::string in = d + "/in";
  std::set<std::string> all;
  for (int i = 0; i < 7; ++i) {
    const std::string name = "im" + std::to_string(i) + ".png";
    write_image(in + "/" + name, 16, 16, 3, i);
    all.insert(name);
  }
  std::multiset<std::string> seen;
  for (int s = 0; s < 3; ++s) {
    const std::string csv = d + "/shard" + std::to_string(s) + ".csv";
    RunResult r =
        rd("hdr -q " + fast(1) + "--shard " + std::to_string(s) + "/3 --csv " + csv + " " + in + " " + d + "/out");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    for (auto& kv : read_csv(csv)) {
      CHECK(kv.second.first == "ok");
      seen.insert(kv.first);
    }
  }
  CHECK(seen.size() == all.size());
  CHECK(std::set<std::string>(seen.begin(), seen.end()) == all);
  for (const auto& f : all) CHECK(fs::exists(d + "/out/" + f));
  // SLURM's array variables choose the shard when --shard is not given
  const std::string csv = d + "/slurm.csv";
  RunResult r =
      reddiff_test::run_command("SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=3 " + reddiff_test::binary("reddiff") +
                                " hdr -q --overwrite " + fast(1) + "--csv " + csv + " " + in + " " + d + "/out_slurm");
  REQUIRE(r.exit_code == 0);
  auto rows = read_csv(csv);
  CHECK(rows.size() == 2);  // positions 1 and 4 of 7
  CHECK(rows.count("im1.png"));
  CHECK(rows.count("im4.png"));
}

TEST_CASE("bad input: one line, a non-zero exit, no output", "[cli]") {
  const std::string d = dir("bad");
  write_image(d + "/photo.png", 32, 32);
  write_image(d + "/wide_mask.png", 16, 32, 1);
  write_text(d + "/corrupt.png", "\x89PNG but not really");
  write_text(d + "/a_file", "x");
  AdmConfig other = tiny_config();
  other.num_res_blocks = 2;
  const std::string wrong_model = write_model("wrong_arch.safetensors", tiny_config(), &other);
  const std::string out = d + "/out.png";
  const std::string photo = d + "/photo.png";

  std::vector<std::pair<std::string, std::string>> cases = {
      {"missing image", "inpaint " + fast() + d + "/nothere.png " + out},
      {"corrupt image", "inpaint " + fast() + d + "/corrupt.png " + out},
      {"mask of another size", "inpaint " + fast() + "--mask " + d + "/wide_mask.png " + photo + " " + out},
      {"missing mask file", "inpaint " + fast() + "--mask " + d + "/nomask.png " + photo + " " + out},
      {"unknown task", "inpaintt " + fast() + photo + " " + out},
      {"unknown option", "inpaint " + fast() + "--frobnicate " + photo + " " + out},
      {"bad weighting", "inpaint " + fast() + "--weighting wobbly " + photo + " " + out},
      {"bad init", "inpaint " + fast() + "--init ones " + photo + " " + out},
      {"bad device", "inpaint --model " + model() + " --device gpu " + photo + " " + out},
      {"bad precision", "inpaint " + fast() + "--precision f8 " + photo + " " + out},
      {"f16 on the cpu", "inpaint " + fast() + "--precision f16 " + photo + " " + out},
      {"bad steps", "inpaint " + fast() + "--steps many " + photo + " " + out},
      {"too many steps", "inpaint " + fast() + "--steps 2000 " + photo + " " + out},
      {"bad scale", "sr " + fast() + "--scale 3 " + photo + " " + out},
      {"bad shard", "inpaint " + fast() + "--shard 3/2 " + d + " " + d + "/outdir"},
      {"model for another architecture",
       "inpaint --device cpu --steps 3 --model " + wrong_model + " " + photo + " " + out},
      {"missing model", "inpaint --device cpu --model " + d + "/none.safetensors " + photo + " " + out},
      {"unwritable output", "inpaint " + fast() + photo + " " + d + "/a_file/out.png"},
      {"output not a png", "inpaint " + fast() + photo + " " + d + "/out.jpg"},
      {"phase retrieval from a png", "phase-retrieval " + fast() + photo + " " + out},
      {"class for an unconditional model", "inpaint " + fast() + "--class 3 " + photo + " " + out},
      {"save-measurement without --measure",
       "inpaint " + fast() + "--save-measurement " + d + "/y.png " + photo + " " + out},
  };
  if (!cuda_available())
    cases.push_back({"--device cuda without a GPU", "inpaint " + fast() + "--device cuda " + photo + " " + out});
  for (const auto& c : cases) {
    INFO(c.first << ": " << c.second);
    RunResult r = rd(c.second);
    INFO(r.output);
    CHECK(r.exit_code != 0);
    CHECK(lines(r.output) == 1);
    CHECK(r.output.rfind("reddiff", 0) == 0);
    CHECK(!fs::exists(out));
    CHECK(!fs::exists(d + "/outdir"));
    CHECK(!fs::exists(d + "/out.jpg"));
  }
  // nothing else was left behind (no temporary files)
  std::set<std::string> left;
  for (const auto& e : fs::directory_iterator(d)) left.insert(e.path().filename().string());
  CHECK(left == std::set<std::string>{"photo.png", "wide_mask.png", "corrupt.png", "a_file"});
}

TEST_CASE("--algo: the help lists the algorithms; unsupported combinations are one-line errors", "[cli][algo]") {
  const std::string d = dir("algo");
  write_image(d + "/photo.png", 32, 32);
  const std::string photo = d + "/photo.png", out = d + "/out.png";
  RunResult h = rd("sr --help");
  CHECK(h.exit_code == 0);
  for (const char* s :
       {"--algo", "--zeta", "--eta", "--eta-b", "Algorithms (--algo):", "  reddiff  ", "  dps      ", "  pigdm    ",
        "  ddrm     Denoising Diffusion Restoration Models", "For sr: 1000 steps, zeta 0.3",
        "For sr: 100 steps, zeta 1, eta 1", "For sr: 20 steps, eta 0.85, eta-b 1",
        "Tasks: denoise, inpaint (any mask), colorize, sr (pool, bicubic), deblur"})
    CHECK(h.output.find(s) != std::string::npos);
  CHECK(h.output.find("reserved") == std::string::npos);
  CHECK(h.output.find("not built") == std::string::npos);
  RunResult hh = rd("hdr --help");
  CHECK(hh.output.find("contrast weight 1500") != std::string::npos);
  CHECK(hh.output.find("Not for hdr (DDRM needs an SVD of the operator: hdr is nonlinear).") != std::string::npos);
  RunResult top = rd("--help");
  CHECK(top.output.find("--algo reddiff (the default), dps (Diffusion\nPosterior Sampling), pigdm") !=
        std::string::npos);
  CHECK(top.output.find("or ddrm (Denoising Diffusion") != std::string::npos);
  CHECK(top.output.find("not built") == std::string::npos);

  struct Case {
    std::string what, args, message;
  };
  std::vector<Case> cases = {
      {"unknown algorithm", "--algo red", "--algo: unknown value 'red' (expected reddiff, dps, pigdm or ddrm)"},
      {"RED-diff option with dps", "--algo dps --lr 0.3", "--lr is a RED-diff option; --algo dps does not use it"},
      {"RED-diff option with pigdm", "--algo pigdm --t-end 10",
       "--t-end is a RED-diff option; --algo pigdm does not use it"},
      {"zeta with reddiff", "--zeta 0.3", "--zeta is for --algo dps or pigdm"},
      {"eta with reddiff", "--algo reddiff --eta 0.3", "--eta is for --algo pigdm or ddrm; RED-diff uses --lr"},
      {"eta with dps", "--algo dps --eta 0.5", "--eta is for --algo pigdm or ddrm; --algo dps samples with DDPM steps"},
      {"RED-diff option with ddrm", "--algo ddrm --lr 0.3", "--lr is a RED-diff option; --algo ddrm does not use it"},
      {"RED-diff init with ddrm", "--algo ddrm --init zeros",
       "--init is a RED-diff option; --algo ddrm does not use it"},
      {"zeta with ddrm", "--algo ddrm --zeta 0.3",
       "--zeta is for --algo dps or pigdm; --algo ddrm has no guidance step"},
      {"eta-b with pigdm", "--algo pigdm --eta-b 0.5", "--eta-b is a DDRM option; --algo pigdm does not use it"},
      {"eta-b with reddiff", "--eta-b 0.5", "--eta-b is a DDRM option; --algo reddiff does not use it"},
      {"ddrm eta out of range", "--algo ddrm --eta 1.5", "--eta must be in [0, 1]"},
      {"ddrm eta-b out of range", "--algo ddrm --eta-b -0.1", "--eta-b must be in [0, 1]"},
      {"ddrm eta-b not a number", "--algo ddrm --eta-b lots", "--eta-b: 'lots' is not a number"},
      {"more DDRM steps than timesteps", "--algo ddrm --steps 1001", "--steps 1001 exceeds the model's 1000 timesteps"},
      {"eta out of range", "--algo pigdm --eta 2", "--eta must be in [0, 1]"},
      {"negative zeta", "--algo dps --zeta -1", "--zeta must be >= 0"},
      {"zeta not a number", "--algo dps --zeta big", "--zeta: 'big' is not a number"},
      {"more DPS steps than timesteps", "--algo dps --steps 1001",
       "--steps 1001 must be between 1 and the model's 1000 timesteps"},
  };
  for (const auto& c : cases) {
    INFO(c.what << ": " << c.args);
    RunResult r = rd("inpaint --model " + model() + " --device cpu --threads 1 " + c.args + " " + photo + " " + out);
    INFO(r.output);
    CHECK(r.exit_code != 0);
    CHECK(lines(r.output) == 1);
    CHECK(r.output.rfind("reddiff inpaint: ", 0) == 0);
    CHECK(r.output.find(c.message) != std::string::npos);
    CHECK(!fs::exists(out));
  }

  // Tasks and options DDRM has no SVD for: refused before anything is read (IN does not exist) or written.
  std::vector<Case> unsupported = {
      {"phase-retrieval", "phase-retrieval", "DDRM needs an SVD of the operator: phase-retrieval is nonlinear"},
      {"hdr", "hdr", "DDRM needs an SVD of the operator: hdr is nonlinear"},
      {"motion blur", "deblur --blur motion",
       "deblur needs a separable kernel (--blur gaussian or uniform), not motion"},
      {"blur file", "deblur --blur " + d + "/photo.png",
       "deblur needs a separable kernel (--blur gaussian or uniform), not a kernel file"},
      {"composition", "sr --compose deblur", "DDRM needs an SVD of the operator: --compose has none here"},
  };
  for (const auto& c : unsupported) {
    INFO(c.what << ": " << c.args);
    RunResult r = rd(c.args + " --algo ddrm --model " + model() + " --device cpu --json " + d + "/r.json " + d +
                     "/missing.png " + out);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK(lines(r.output) == 1);
    CHECK(r.output.rfind("reddiff ", 0) == 0);
    CHECK(r.output.find(c.message) != std::string::npos);
    CHECK(!fs::exists(out));
    CHECK(!fs::exists(d + "/r.json"));
  }
}

TEST_CASE("--algo dps and pigdm restore an image and report their settings", "[cli][algo]") {
  const std::string d = dir("algo_run");
  write_image(d + "/photo.png", 32, 32);
  RunResult base = rd("inpaint " + fast() + "--json " + d + "/reddiff.json " + d + "/photo.png " + d + "/reddiff.png");
  INFO(base.output);
  REQUIRE(base.exit_code == 0);
  CHECK(nlohmann::json::parse(slurp(d + "/reddiff.json"))["solver"]["algo"] == "reddiff");
  for (std::string algo : {"dps", "pigdm"}) {
    INFO(algo);
    const std::string out = d + "/" + algo + ".png", js = d + "/" + algo + ".json";
    RunResult r =
        rd("inpaint " + fast() + "--algo " + algo + " --zeta 0.2 --json " + js + " " + d + "/photo.png " + out);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    Png p = read_png(out);
    CHECK((p.c == 3 && p.h == 32 && p.w == 32));
    auto j = nlohmann::json::parse(slurp(js));
    CHECK(j["solver"]["algo"] == algo);
    CHECK(j["solver"]["steps"] == 3);
    CHECK(j["solver"]["zeta"] == Approx(0.2));
    if (algo == "pigdm") CHECK(j["solver"]["eta"] == Approx(1.0));  // its own default, not DDRM's
  }
  // ddrm: defaults and overrides in the report, --save-every, a class-free tiny model
  const std::string js = d + "/ddrm.json";
  RunResult r = rd("inpaint " + fast() + "--algo ddrm --eta-b 0.5 --save-every 1 --json " + js + " " + d +
                   "/photo.png " + d + "/ddrm.png");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  Png p = read_png(d + "/ddrm.png");
  CHECK((p.c == 3 && p.h == 32 && p.w == 32));
  for (int s = 1; s <= 3; ++s) CHECK(fs::exists(d + "/ddrm_trajectory/step_000" + std::to_string(s) + ".png"));
  auto j = nlohmann::json::parse(slurp(js));
  CHECK(j["solver"]["algo"] == "ddrm");
  CHECK(j["solver"]["steps"] == 3);
  CHECK(j["solver"]["eta"] == Approx(0.85));
  CHECK(j["solver"]["eta_b"] == Approx(0.5));
  CHECK(j["solver"]["preset"]["eta_b"] == Approx(1.0));
  CHECK(j["solver"]["preset"]["steps"] == 20);
}

// ------------------------------------------------------------------------------------------- jpeg, quant

namespace {
std::string read_bytes(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
// The one line of a failed run: exit status 2, a single line naming `what`, and no output written.
void check_refused(const RunResult& r, const std::string& what, const std::string& out) {
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK(lines(r.output) == 1);
  CHECK(r.output.find(what) != std::string::npos);
  CHECK(!fs::exists(out));
}
}  // namespace

TEST_CASE("jpeg and quant: the help is complete", "[cli][jpeg]") {
  const RunResult top = rd("--help");
  CHECK(top.output.find("  jpeg ") != std::string::npos);
  CHECK(top.output.find("  quant ") != std::string::npos);
  const RunResult j = rd("jpeg --help"), q = rd("quant --help");
  CHECK(j.exit_code == 0);
  CHECK(q.exit_code == 0);
  for (const char* opt : {"--quality", "--subsampling", "--data-term", "--out-bits", "--measure", "Preset for jpeg",
                          "IN is the JPEG file", "reddiff degrade jpeg"})
    CHECK(j.output.find(opt) != std::string::npos);
  for (const char* opt :
       {"--bits", "--data-term", "--out-bits", "--measure", "Preset for quant", "IN is the banded image"})
    CHECK(q.output.find(opt) != std::string::npos);
  CHECK(rd("degrade --help").output.find("jpeg writes the JPEG file itself") != std::string::npos);
}

TEST_CASE("jpeg: degrade writes the file, jpeg restores it; --measure encodes at --quality", "[cli][jpeg]") {
  const std::string d = dir("jpeg");
  write_image(d + "/clean.png", 23, 29);
  // degrade jpeg: a real JPEG file (libjpeg), smaller at lower quality
  REQUIRE(rd("degrade jpeg -q --quality 10 " + d + "/clean.png " + d + "/q10.jpg").exit_code == 0);
  REQUIRE(rd("degrade jpeg -q --quality 95 --subsampling 444 " + d + "/clean.png " + d + "/q95.jpg").exit_code == 0);
  const std::string q10 = read_bytes(d + "/q10.jpg"), q95 = read_bytes(d + "/q95.jpg");
  REQUIRE(q10.size() > 4);
  CHECK((uint8_t(q10[0]) == 0xFF && uint8_t(q10[1]) == 0xD8));
  CHECK(q10.size() < q95.size());
  const Png dec = read_png(d + "/q10.jpg");  // stb decodes it: the same size
  CHECK((dec.h == 23 && dec.w == 29));
  check_refused(rd("degrade jpeg --quality 10 " + d + "/clean.png " + d + "/y.png"), "must end in .jpg", d + "/y.png");

  // the file's coefficients are the measurement; OUT has its size
  RunResult r = rd("jpeg " + fast() + d + "/q10.jpg " + d + "/out.png");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  Png p = read_png(d + "/out.png");
  CHECK((p.c == 3 && p.h == 23 && p.w == 29));

  // --measure: encoded here at --quality and --subsampling, scored, reported
  r = rd("jpeg " + fast() + "--measure --quality 10 --subsampling 422 --json " + d + "/r.json " + d + "/clean.png " +
         d + "/m.png");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  nlohmann::json j = nlohmann::json::parse(slurp(d + "/r.json"));
  CHECK(j["task"] == "jpeg");
  CHECK(j["operator"]["quality"] == 10);
  CHECK(j["operator"]["subsampling"] == "422");
  CHECK(j["metrics"]["psnr"].is_number());
  // the share of the file's coefficients that the result, re-encoded with its tables, keeps in their bins
  CHECK(r.output.find("in bins ") != std::string::npos);
  REQUIRE(j["images"][0]["in_bins"].is_number());
  CHECK(j["images"][0]["in_bins"].get<double>() > 0.0);
  CHECK(j["images"][0]["in_bins"].get<double>() <= 1.0);

  // a PIL-made progressive 4:2:2 file (tests/python/gen_jpeg_cases.py) and a grey one restore too
  for (const char* f : {"pil_q10_422_progressive", "pil_q50_grey"}) {
    INFO(f);
    RunResult rp = rd("jpeg -q " + fast(1) + reddiff_test::testdata(std::string("jpeg_cases/") + f + ".jpg") + " " + d +
                      "/" + f + ".png");
    INFO(rp.output);
    CHECK(rp.exit_code == 0);
    CHECK(read_png(d + "/" + f + ".png").c == 3);
  }
  // a 1x1 image: a valid JPEG, read; the model cannot restore it (one line, exit 2)
  write_image(d + "/one.png", 1, 1);
  REQUIRE(rd("degrade jpeg -q " + d + "/one.png " + d + "/one.jpg").exit_code == 0);
  check_refused(rd("jpeg -q " + fast(1) + d + "/one.jpg " + d + "/one_out.png"), "1x1 is too small",
                d + "/one_out.png");
}

TEST_CASE("jpeg: bad files and options are one line and exit status 2; DDRM refuses", "[cli][jpeg]") {
  const std::string d = dir("jpeg_bad");
  write_image(d + "/clean.png", 24, 24);
  REQUIRE(rd("degrade jpeg -q " + d + "/clean.png " + d + "/good.jpg").exit_code == 0);
  const std::string good = read_bytes(d + "/good.jpg");
  {
    std::ofstream f(d + "/truncated.jpg", std::ios::binary);
    f << good.substr(0, good.size() / 2);
  }
  write_text(d + "/text.jpg", "not a JPEG at all");
  check_refused(rd("jpeg " + fast(1) + d + "/truncated.jpg " + d + "/o1.png"), "truncated.jpg", d + "/o1.png");
  check_refused(rd("jpeg " + fast(1) + d + "/text.jpg " + d + "/o2.png"), "text.jpg", d + "/o2.png");
  check_refused(rd("jpeg " + fast(1) + reddiff_test::testdata("jpeg_cases/pil_q50_cmyk.jpg") + " " + d + "/o3.png"),
                "CMYK", d + "/o3.png");
  check_refused(rd("jpeg " + fast(1) + "--measure --quality 0 " + d + "/clean.png " + d + "/o4.png"), "--quality",
                d + "/o4.png");
  check_refused(rd("jpeg " + fast(1) + "--measure --subsampling 411 " + d + "/clean.png " + d + "/o5.png"),
                "--subsampling", d + "/o5.png");
  check_refused(rd("jpeg " + fast(1) + "--algo ddrm " + d + "/good.jpg " + d + "/o6.png"), "DDRM", d + "/o6.png");
  check_refused(rd("quant " + fast(1) + "--algo ddrm --bits 4 " + d + "/clean.png " + d + "/o7.png"), "DDRM",
                d + "/o7.png");
  check_refused(
      rd("jpeg " + fast(1) + "--measure --save-measurement " + d + "/y.jpg " + d + "/clean.png " + d + "/o8.png"),
      "reddiff degrade jpeg", d + "/o8.png");
}

TEST_CASE("quant: restores a banded image; --out-bits 16 writes 16-bit PNGs for any task", "[cli][jpeg]") {
  const std::string d = dir("quant");
  write_image(d + "/clean.png", 24, 32);
  REQUIRE(rd("degrade quant -q --bits 3 " + d + "/clean.png " + d + "/banded.png").exit_code == 0);
  // the degraded image has at most 2^3 levels per channel
  const Png b = read_png(d + "/banded.png");
  std::set<int> levels;
  for (float v : b.data) levels.insert(int(std::lround(v * 255.0f)));
  CHECK(levels.size() <= 8);
  CHECK(levels.size() >= 3);

  RunResult r = rd("quant " + fast() + "--bits 3 --out-bits 16 " + d + "/banded.png " + d + "/out.png");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  // a 16-bit PNG: IHDR's bit depth (byte 24) is 16, and it reads back with the right size
  const std::string png = read_bytes(d + "/out.png");
  REQUIRE(png.size() > 25);
  CHECK(int(uint8_t(png[24])) == 16);
  const Png p = read_png(d + "/out.png");
  CHECK((p.c == 3 && p.h == 24 && p.w == 32));

  r = rd("quant " + fast() + "--measure --bits 4 --json " + d + "/r.json " + d + "/clean.png " + d + "/m.png");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  nlohmann::json j = nlohmann::json::parse(slurp(d + "/r.json"));
  CHECK(j["operator"]["bits"] == 4);
  CHECK(j["settings"]["out_bits"] == 8);
  // in_bins: the share of samples the result as written keeps at their measured 4-bit level, recomputed here
  // from the two files (few steps, so the share is low: the value, not its size, is what is checked)
  REQUIRE(j["images"][0]["in_bins"].is_number());
  {
    const Png clean = read_png(d + "/clean.png"), got = read_png(d + "/m.png");
    REQUIRE(clean.data.size() == got.data.size());
    size_t same = 0;
    for (size_t i = 0; i < got.data.size(); ++i)
      same += std::floor(got.data[i] * 15.0 + 0.5) == std::floor(clean.data[i] * 15.0 + 0.5);
    CHECK(j["images"][0]["in_bins"].get<double>() == Approx(double(same) / double(got.data.size())).margin(1e-9));
  }
  CHECK(int(uint8_t(read_bytes(d + "/m.png")[24])) == 8);

  // --out-bits for another task, and its bad values
  REQUIRE(rd("denoise -q " + fast(1) + "--out-bits 16 " + d + "/clean.png " + d + "/dn.png").exit_code == 0);
  CHECK(int(uint8_t(read_bytes(d + "/dn.png")[24])) == 16);
  check_refused(rd("denoise " + fast(1) + "--out-bits 12 " + d + "/clean.png " + d + "/o1.png"), "--out-bits",
                d + "/o1.png");
  check_refused(rd("quant " + fast(1) + "--bits 9 " + d + "/clean.png " + d + "/o2.png"), "--bits", d + "/o2.png");
  // a 1x1 image: one line, exit 2
  write_image(d + "/one.png", 1, 1);
  check_refused(rd("quant -q " + fast(1) + d + "/one.png " + d + "/one_out.png"), "1x1 is too small",
                d + "/one_out.png");
}
