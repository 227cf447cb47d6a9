// End to end: checkpoints written by torch at test time (tests/python/gen_checkpoints.py), converted by the
// built reddiff-convert binary, compared bit for bit with the tensors torch wrote; hostile and broken
// files refused with one line, exit code 2 and no output file.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "base/error.h"
#include "converter_test_util.h"
#include "engine/model_config.h"
#include "weights_converter/convert.h"

using namespace convtest;

namespace {

const std::vector<std::string> kTinySettings = {"--set", "image_size=32", "num_head_channels=16"};

Run convert(const std::string& in, const std::string& out, std::vector<std::string> extra = kTinySettings) {
  std::vector<std::string> args{convert_bin(), ckpt(in), out_path(out)};
  args.insert(args.end(), extra.begin(), extra.end());
  return run(args);
}

void convert_ok(const std::string& in, const std::string& out, const std::string& expected,
                std::vector<std::string> extra = kTinySettings) {
  ::unlink(out_path(out).c_str());
  Run r = convert(in, out, extra);
  INFO(in << ": " << r.err);
  REQUIRE(r.code == 0);
  REQUIRE(r.err.empty());
  require_same_tensors(out_path(out), ckpt(expected));
}

// A refused input: exit code 2, one line on stderr naming the problem, no output, no temporary left over.
void refused(const std::string& in, const std::string& must_mention, std::vector<std::string> extra = kTinySettings) {
  std::string out = "refused_" + in + ".safetensors";
  ::unlink(out_path(out).c_str());
  Run r = convert(in, out, extra);
  INFO(in << " -> exit " << r.code << ", stderr: " << r.err);
  CHECK(r.code == 2);
  REQUIRE(!r.err.empty());
  CHECK(r.err.back() == '\n');
  CHECK(r.err.find('\n') == r.err.size() - 1);  // exactly one line
  CHECK(r.err.rfind("reddiff-convert: ", 0) == 0);
  CHECK(r.err.find(must_mention) != std::string::npos);
  CHECK_FALSE(exists(out_path(out)));
  CHECK(files_starting_with(out).empty());
  CHECK_FALSE(exists(ckpt("PWNED_MARKER")));
}

}  // namespace

TEST_CASE("torch zip and legacy checkpoints convert bit for bit", "[convert]") {
  convert_ok("a_zip.pt", "a_zip.safetensors", "expected_a.safetensors");          // prefix = file stem
  convert_ok("a_fileobj.pt", "a_fileobj.safetensors", "expected_a.safetensors");  // prefix archive/
  convert_ok("a_legacy.pt", "a_legacy.safetensors", "expected_a.safetensors");
  convert_ok("a_zip64.pt", "a_zip64.safetensors", "expected_a.safetensors");        // ZIP64 + data descriptors
  convert_ok("a_plainzip.pt", "a_plainzip.safetensors", "expected_a.safetensors");  // no prefix directory
  convert_ok("a_manual.pt", "a_manual.safetensors", "expected_a.safetensors");      // Python zipfile, no padding
  convert_ok("b_zip.pt", "b_zip.safetensors", "expected_b.safetensors",
             {"--set", "image_size=32", "num_heads=2", "use_new_attention_order=true"});
  convert_ok("b_legacy.pt", "b_legacy.safetensors", "expected_b.safetensors",
             {"--flags", "--image_size 32 --num_heads 2 --use_new_attention_order True --batch_size 8"});
  convert_ok("c_zip.pt", "c_zip.safetensors", "expected_c.safetensors",
             {"--set", "image_size=16", "num_head_channels=32"});
}

TEST_CASE("f16, bf16, f64 and mixed per-tensor dtypes are kept or converted", "[convert]") {
  convert_ok("a_zip_f16.pt", "a_zip_f16.safetensors", "expected_a_f16.safetensors");
  convert_ok("a_legacy_f16.pt", "a_legacy_f16.safetensors", "expected_a_f16.safetensors");
  convert_ok("a_mixed.pt", "a_mixed.safetensors", "expected_a_mixed.safetensors");
  convert_ok("a_mixed_legacy.pt", "a_mixed_legacy.safetensors", "expected_a_mixed.safetensors");
  std::vector<std::string> f32 = kTinySettings, f16 = kTinySettings, bf16 = kTinySettings;
  f32.insert(f32.end(), {"--dtype", "f32"});
  f16.insert(f16.end(), {"--dtype", "f16"});
  bf16.insert(bf16.end(), {"--dtype=bf16"});
  convert_ok("a_mixed.pt", "a_mixed_f32.safetensors", "expected_a_mixed_f32.safetensors", f32);
  convert_ok("a_zip.pt", "a_to_f16.safetensors", "expected_a_f16.safetensors", f16);  // round to nearest even, as torch
  convert_ok("a_zip.pt", "a_to_bf16.safetensors", "expected_a_bf16.safetensors", bf16);
  auto mixed = reddiff::SafeTensorsFile::open(out_path("a_mixed.safetensors"));
  CHECK(mixed->metadata().at("dtype") == "mixed");
  auto half = reddiff::SafeTensorsFile::open(out_path("a_to_f16.safetensors"));
  CHECK(half->metadata().at("dtype") == "f16");
}

TEST_CASE("guided-diffusion's fp16-trainer layout: two shared storages, tensors at offsets", "[convert]") {
  convert_ok("a_shared.pt", "a_shared.safetensors", "expected_a.safetensors");
  convert_ok("a_shared_legacy.pt", "a_shared_legacy.safetensors", "expected_a.safetensors");
  Run r = convert("a_shared.pt", "a_shared2.safetensors");
  CHECK(r.out.find("2 storages") != std::string::npos);
}

TEST_CASE("nested state dicts: EMA preferred and named; prefixes; --key", "[convert]") {
  convert_ok("a_nested.pt", "a_nested.safetensors", "expected_ema.safetensors");
  convert_ok("a_nested_legacy.pt", "a_nested_legacy.safetensors", "expected_ema.safetensors");
  Run r = convert("a_nested.pt", "a_nested2.safetensors");
  CHECK(r.out.find("'ema' (the EMA weights; also present: 'model')") != std::string::npos);
  auto f = reddiff::SafeTensorsFile::open(out_path("a_nested2.safetensors"));
  CHECK(f->metadata().at("source_state_dict") == "ema");
  std::vector<std::string> key = kTinySettings;
  key.insert(key.end(), {"--key", "model"});
  convert_ok("a_nested.pt", "a_nested_model.safetensors", "expected_a.safetensors", key);
  convert_ok("a_module.pt", "a_module.safetensors", "expected_a.safetensors");  // {"state_dict": {"module.*": ...}}
  convert_ok("a_list.pt", "a_list.safetensors", "expected_a.safetensors");      // [state_dict, {...}]
}

TEST_CASE("safetensors input, and re-conversion of a reddiff model file", "[convert]") {
  convert_ok("a_raw.safetensors", "a_raw.safetensors", "expected_a.safetensors");
  // A reddiff file carries its config: no settings needed.
  convert_ok("a_zip.pt", "a_base.safetensors", "expected_a.safetensors");
  ::unlink(out_path("a_rebf16.safetensors").c_str());
  Run r = run({convert_bin(), out_path("a_base.safetensors"), out_path("a_rebf16.safetensors"), "--dtype", "bf16"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  require_same_tensors(out_path("a_rebf16.safetensors"), ckpt("expected_a_bf16.safetensors"));
}

TEST_CASE("model file metadata", "[convert][format]") {
  convert_ok("a_zip.pt", "a_meta.safetensors", "expected_a.safetensors");
  auto f = reddiff::SafeTensorsFile::open(out_path("a_meta.safetensors"));
  const auto& md = f->metadata();
  CHECK(md.at("format") == "reddiff");
  CHECK(md.at("format_version") == "1");
  CHECK(md.at("arch") == "adm");
  CHECK(md.at("learn_sigma") == "true");
  CHECK(md.at("source_file") == "a_zip.pt");
  CHECK(md.at("dtype") == "f32");
  CHECK(md.at("source_sha256").size() == 64);
  reddiff::AdmConfig cfg = reddiff::adm_config_from_json(nlohmann::json::parse(md.at("config")));
  CHECK(cfg.image_size == 32);
  CHECK(cfg.model_channels == 32);
  CHECK(cfg.num_head_channels == 16);
  CHECK(cfg.channel_mult == std::vector<double>{1, 2});
  CHECK(cfg.attention_resolutions == std::vector<int>{16});
  reddiff::Schedule s = reddiff::schedule_from_json(nlohmann::json::parse(md.at("schedule")));
  CHECK(s.kind == "linear");
  CHECK(s.num_timesteps == 1000);
  // Tensors in guided-diffusion's registration order, with their original shapes (conv1d qkv stays 3-D).
  auto specs = reddiff::expected_tensors(cfg);
  REQUIRE(f->tensors().size() == specs.size());
  for (size_t k = 0; k < specs.size(); ++k) {
    CHECK(f->tensors()[k].name == specs[k].name);
    CHECK(f->tensors()[k].shape == specs[k].shape);
  }
  CHECK(f->find("middle_block.1.qkv.weight")->shape.size() == 3);
}

TEST_CASE("reddiff info describes a model file", "[info]") {
  convert_ok("a_zip.pt", "a_info.safetensors", "expected_a.safetensors");
  std::string d = reddiff::describe_model(out_path("a_info.safetensors"));
  CHECK(d.find("adm") != std::string::npos);
  CHECK(d.find("828,358 in 144 tensors") != std::string::npos);
  CHECK(d.find("f32") != std::string::npos);
  CHECK(d.find("GFLOP at 32x32") != std::string::npos);
  CHECK(d.find("num_head_channels: 16") != std::string::npos);
  CHECK(d.find("file size") != std::string::npos);
  CHECK_THROWS_WITH(reddiff::describe_model(ckpt("expected_a.safetensors")),
                    Catch::Contains("not a reddiff model file"));
  CHECK_THROWS_AS(reddiff::describe_model(ckpt("a_zip.pt")), reddiff::Error);
  // The same through the reddiff executable.
  Run r = run({reddiff_bin(), "info", out_path("a_info.safetensors")});
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(r.out == d);
  Run bad = run({reddiff_bin(), "info", ckpt("a_zip.pt")});
  CHECK(bad.code == 2);
  CHECK(bad.err.find('\n') == bad.err.size() - 1);
  Run conv = run({reddiff_bin(), "convert", ckpt("a_zip.pt"), out_path("a_via_reddiff.safetensors"), "--set",
                  "image_size=32", "num_head_channels=16"});
  INFO(conv.err);
  CHECK(conv.code == 0);
  require_same_tensors(out_path("a_via_reddiff.safetensors"), ckpt("expected_a.safetensors"));
}

// Each hostile or broken file is its own test case.
#define REFUSED(file, mention) \
  TEST_CASE("refused: " file, "[hostile]") { refused(file, mention); }

// Pickles that would run code under torch.load: refused by the global's name, and the marker the payload
// would create does not appear.
REFUSED("evil_reduce_zip.pt", "posix.system")
REFUSED("evil_reduce_legacy.pt", "posix.system")
REFUSED("evil_stack_global.pt", "builtins.eval")
REFUSED("unknown_global.pt", "argparse.Namespace")
REFUSED("bare_pickle.pkl", "bare pickle")
// Broken containers.
REFUSED("truncated.pt", "truncated")
REFUSED("corrupt_cd.pt", "zip")
REFUSED("corrupt_cd_offset.pt", "a_zip/data/")  // found only while writing: the temporary must go too
REFUSED("truncated_legacy.pt", "truncated")
REFUSED("compressed.pt", "compressed")
REFUSED("not_a_checkpoint.txt", "unrecognised file format")
REFUSED("empty.pt", "empty file")
REFUSED("does_not_exist.pt", "no such file")
// Storages shorter than their tensors, bad strides, wrong shapes.
REFUSED("short_storage.pt", "storage '3' holds 256 bytes")
REFUSED("short_storage_decl.pt", "storage shorter than its tensors")
REFUSED("noncontig.pt", "non-contiguous strides [1, 128]")
REFUSED("misshaped.pt", "out.0.weight is [31], expected [32]")
REFUSED("missing_unexpected.pt", "1 missing (out.2.bias); 1 unexpected (input_blocks.0.0.num_batches_tracked)")
REFUSED("ddpm.pt", "DDPM")
REFUSED("nan.pt", "tensor 'out.2.bias' holds NaN")  // found while writing: the temporary must go too

TEST_CASE("refused: wrong shapes for the preset", "[hostile]") {
  refused("a_zip.pt", "do not fit preset 256x256_diffusion_uncond: ", {"--preset", "256x256_diffusion_uncond"});
  refused("a_zip.pt", "do not fit preset ffhq_10m: ", {"--preset", "ffhq_10m"});
}

TEST_CASE("refused: shapes of no preset without the settings the weights cannot tell", "[hostile]") {
  refused("a_zip.pt", "fit no built-in preset", {});
  refused("a_zip.pt", "head split", {"--set", "image_size=32"});
}

TEST_CASE("command-line errors", "[cli]") {
  refused("a_zip.pt", "unknown preset", {"--preset", "nope"});
  refused("a_zip.pt", "--dtype", {"--dtype", "int8"});
  refused("a_zip.pt", "unknown setting", {"--set", "bogus=1"});
  refused("a_zip.pt", "unknown option", {"--frobnicate"});
  Run r = run({convert_bin(), ckpt("a_zip.pt")});
  CHECK(r.code == 2);
  Run h = run({convert_bin(), "--help"});
  CHECK(h.code == 0);
  CHECK(h.out.find("--preset") != std::string::npos);
  Run l = run({convert_bin(), "--list-presets"});
  CHECK(l.code == 0);
  CHECK(l.out.find("256x256_diffusion_uncond") != std::string::npos);
  CHECK(l.out.find("ffhq_10m") != std::string::npos);
  // The output must not replace the input.
  std::string copy = out_path("self.pt");
  { std::ofstream(copy, std::ios::binary) << slurp(ckpt("a_zip.pt")); }
  Run s = run({convert_bin(), copy, copy, "--set", "image_size=32", "num_head_channels=16"});
  CHECK(s.code == 2);
  CHECK(s.err.find("overwrite the input") != std::string::npos);
}

TEST_CASE("memory stays far below the checkpoint size (two shared storages, 73 MB)", "[memory]") {
  std::string out = out_path("big.safetensors");
  Run r = run({convert_bin(), ckpt("big_shared.pt"), out, "--set", "image_size=64", "num_head_channels=64", "-q"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  struct stat st;
  REQUIRE(::stat(ckpt("big_shared.pt").c_str(), &st) == 0);
  double ratio = double(r.maxrss_kb) * 1024.0 / double(st.st_size);
  WARN("peak RSS " << r.maxrss_kb / 1024 << " MiB for a " << st.st_size / (1 << 20) << " MiB checkpoint (" << ratio
                   << "x)");
  CHECK(ratio < 1.2);
  CHECK(ratio < 0.6);  // streaming: one tensor at a time, well under the bound
  auto f = reddiff::SafeTensorsFile::open(out);
  CHECK(f->tensors().size() > 100);
}
