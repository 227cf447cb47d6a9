// `reddiff bench --algo ...` on the CPU with a tiny random-weight model: every method is timed and its
// memory accounted (results[i]["algos"]), the default keeps today's JSON, and bad --algo values are
// one-line errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/model_config.h"
#include "random_model_file.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace reddiff;
using reddiff_test::RunResult;

namespace {

// A 32x32 model with random weights, written once (the layout of tests/engine/test_model_file.cpp).
const std::string& bench_model() {
  static const std::string path = [] {
    AdmConfig c;
    c.image_size = 32, c.model_channels = 32, c.channel_mult = {1, 2}, c.num_res_blocks = 1;
    c.attention_resolutions = {16}, c.num_head_channels = 16, c.learn_sigma = true, c.out_channels = 6;
    const std::string p = reddiff_test::testdata("cli_bench/tiny.safetensors");
    reddiff_test::write_random_model(p, c, 11);
    return p;
  }();
  return path;
}

RunResult bench(const std::string& args) {
  return reddiff_test::run_command(reddiff_test::binary("reddiff") + " bench --device cpu --threads 1 --model " +
                                   bench_model() + " --repeat 2 --warmup 1 --solver-steps 2 " + args);
}

nlohmann::json load(const std::string& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return nlohmann::json::parse(s.str());
}

// Runs the bench with `args` and --json testdata/cli_bench/NAME.json (removed first); it must succeed.
nlohmann::json bench_json(const std::string& args, const std::string& name, std::string* output = nullptr) {
  const std::string js = reddiff_test::testdata("cli_bench/" + name + ".json");
  fs::remove(js);
  RunResult r = bench(args + " --json " + js);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  if (output) *output = r.output;
  return load(js);
}

}  // namespace

TEST_CASE("bench --algo all times every method and accounts its memory", "[cli][bench]") {
  std::string output;
  auto doc = bench_json("--algo all", "all", &output);
  CHECK(output.find("methods on one engine") != std::string::npos);
  CHECK(doc["settings"]["algos"] == nlohmann::json({"reddiff", "ddrm", "dps", "pigdm"}));
  REQUIRE(doc["results"].size() == 1);
  const auto& row = doc["results"][0];
  REQUIRE(row["status"] == "ok");
  // today's keys stay
  CHECK(row["reddiff"]["step_ms"].get<double>() > 0);
  CHECK(row["memory_bytes"]["tool_total"].get<double>() > 0);
  const auto& al = row["algos"];
  const std::map<std::string, int> default_steps{{"reddiff", 100}, {"dps", 1000}, {"pigdm", 100}, {"ddrm", 20}};
  for (const auto& [name, steps] : default_steps) {
    INFO(name);
    REQUIRE(al.contains(name));
    const auto& a = al[name];
    REQUIRE(a["status"] == "ok");
    CHECK(a["step_ms"].get<double>() > 0);
    CHECK(a["task"].get<std::string>().find("inpaint") != std::string::npos);
    const double spi = a["s_per_image"][std::to_string(steps)].get<double>();
    // at least the default step count times the step (fixed cost >= 0, batch 1)
    CHECK(spi >= steps * a["step_ms"].get<double>() * 1e-3 * 0.999);
    CHECK(a["memory_bytes"]["tool_total"].get<double>() > a["memory_bytes"]["weights"].get<double>());
  }
  const double rd_mem = al["reddiff"]["memory_bytes"]["tool_total"].get<double>();
  const double ddrm_mem = al["ddrm"]["memory_bytes"]["tool_total"].get<double>();
  // DPS and PiGDM keep the activations their VJP reads: their plan is larger than the forward's.
  for (const char* g : {"dps", "pigdm"}) {
    INFO(g);
    const auto& m = al[g]["memory_bytes"];
    CHECK(m["tool_total"].get<double>() > rd_mem);
    CHECK(m["tool_total"].get<double>() > ddrm_mem);
    CHECK(m["vjp_plan"].get<double>() > al["reddiff"]["memory_bytes"]["forward_plan"].get<double>());
  }
  // RED-diff's entry is the row's own measurement
  CHECK(al["reddiff"]["step_ms"].get<double>() == row["reddiff"]["step_ms"].get<double>());
}

TEST_CASE("bench: the default is RED-diff alone; a method list runs only those", "[cli][bench]") {
  auto doc = bench_json("", "default");
  CHECK(!doc["results"][0].contains("algos"));
  CHECK(doc["results"][0]["reddiff"]["step_ms"].get<double>() > 0);
  CHECK(doc["settings"]["profile_forward"] == false);

  auto doc2 = bench_json("--algo ddrm", "ddrm");
  const auto& row = doc2["results"][0];
  CHECK(!row.contains("reddiff"));
  REQUIRE(row["algos"].size() == 1);
  CHECK(row["algos"]["ddrm"]["step_ms"].get<double>() > 0);
}

TEST_CASE("bench --profile-forward: recorded in the settings; nothing to open on the CPU", "[cli][bench]") {
  auto doc = bench_json("--profile-forward", "profile");
  CHECK(doc["settings"]["profile_forward"] == true);
  CHECK(doc["results"][0]["forward_ms"]["median"].get<double>() > 0);
}

TEST_CASE("bench --op-times: every op of the forward, by kind, with the time-embedding linears stacked or not",
          "[cli][bench]") {
  // The tiny model: 2 levels x 1 ResBlock down, 2 in the middle, 2 levels x 2 up, and one ResBlock each to
  // downsample and upsample (resblock_updown) = 10 ResBlocks, each with one time-embedding linear, plus the two
  // of time_embed. Stacked (REDDIFF_FUSED_EMBEDDING=1): those 10 are one.
  for (const char* fused : {"1", "0"}) {
    INFO("REDDIFF_FUSED_EMBEDDING=" << fused);
    std::string output;
    const std::string js = reddiff_test::testdata(std::string("cli_bench/op_times_") + fused + ".json");
    fs::remove(js);
    RunResult r =
        reddiff_test::run_command(std::string("REDDIFF_FUSED_EMBEDDING=") + fused + " " +
                                  reddiff_test::binary("reddiff") + " bench --device cpu --threads 1 --model " +
                                  bench_model() + " --repeat 3 --warmup 1 --solver-steps 0 --op-times --json " + js);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(r.output.find("where a forward's time goes") != std::string::npos);
    auto doc = load(js);
    CHECK(doc["settings"]["op_times"] == true);
    const auto& row = doc["results"][0];
    REQUIRE(row.contains("op_ms"));
    const auto& ops = row["op_ms"];
    CHECK(ops["linear"]["ops"].get<int>() == (fused[0] == '1' ? 3 : 2 + 10));
    CHECK(ops["group_norm"]["ops"].get<int>() > 20);  // two per ResBlock, the attention norms and the head
    CHECK(ops["conv2d 3x3"]["ops"].get<int>() >= 2 * 10);
    CHECK(ops["attention"]["ops"].get<int>() >= 1);
    double total = 0;
    for (const auto& kv : ops.items()) {
      CHECK(kv.value()["ms"].get<double>() >= 0);
      total += kv.value()["ms"].get<double>();
    }
    // the ops' times add up to about a forward (the timed loop's median; the per-op syncs cost ~nothing here)
    const double fwd = row["forward_ms"]["median"].get<double>();
    CHECK(total > 0.5 * fwd);
    CHECK(total < 2.0 * fwd);
  }
}

TEST_CASE("bench: a bad --algo is a one-line error", "[cli][bench]") {
  RunResult r = bench("--algo ddpm");
  INFO(r.output);
  CHECK(r.exit_code != 0);
  CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);
  CHECK(r.output.find("--algo must be") != std::string::npos);
}
