#include "weights_converter/cli.h"

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "base/error.h"
#include "weights_converter/convert.h"
#include "weights_converter/presets.h"

namespace reddiff {

namespace {

void convert_usage(const char* prog) {
  std::printf(
      "usage: %s IN OUT [options]\n\n"
      "Converts a PyTorch checkpoint (torch zip or legacy .pt/.ckpt) or a safetensors file holding a\n"
      "guided-diffusion (ADM) UNet into a reddiff model file (safetensors with the model config in its\n"
      "metadata). The pickle is interpreted, never executed.\n\n"
      "options:\n"
      "  --preset NAME          built-in configuration (default: the preset the tensor shapes fit)\n"
      "  --dtype f32|f16|bf16   convert the weights (default: keep the checkpoint's precision)\n"
      "  --set KEY=VALUE ...    guided-diffusion flag names, e.g. --set image_size=256 num_head_channels=64\n"
      "  --flags \"STRING\"       a MODEL_FLAGS string as guided-diffusion's README prints it\n"
      "  --key PATH             the state dict to use inside the checkpoint (e.g. ema, model, state_dict)\n"
      "  --list-presets         list the built-in presets\n"
      "  -q, --quiet            print nothing but errors\n"
      "  -h, --help             this text\n",
      prog);
}

void list_presets() {
  for (const auto& p : presets()) {
    std::string files;
    for (const auto& f : p.files) files += (files.empty() ? "" : ", ") + f;
    std::printf("%-26s %s\n%-26s %s: %s\n", p.name.c_str(), p.description.c_str(), "", p.repository.c_str(),
                files.c_str());
  }
}

// "--name=value" or "--name value".
bool option_value(int argc, char** argv, int& i, const char* name, std::string* out) {
  size_t n = std::strlen(name);
  const char* a = argv[i];
  if (std::strncmp(a, name, n) != 0) return false;
  if (a[n] == '=') {
    *out = a + n + 1;
    return true;
  }
  if (a[n] != 0) return false;
  if (i + 1 >= argc) throw Error(std::string(name) + " needs a value");
  *out = argv[++i];
  return true;
}

}  // namespace

int convert_main(int argc, char** argv) {
  const char* prog = argc > 0 ? argv[0] : "reddiff convert";
  ConvertOptions o;
  std::vector<std::string> pos;
  bool quiet = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i], v;
    if (a == "-h" || a == "--help") {
      convert_usage(prog);
      return 0;
    } else if (a == "--list-presets") {
      list_presets();
      return 0;
    } else if (a == "-q" || a == "--quiet") {
      quiet = true;
    } else if (option_value(argc, argv, i, "--preset", &o.preset) || option_value(argc, argv, i, "--dtype", &o.dtype) ||
               option_value(argc, argv, i, "--flags", &o.flags) || option_value(argc, argv, i, "--key", &o.key)) {
    } else if (a == "--set" || a.compare(0, 6, "--set=") == 0) {
      if (a.size() > 6)
        o.sets.push_back(a.substr(6));
      else if (i + 1 >= argc)
        throw Error("--set needs key=value");
      // --set takes every following key=value argument.
      while (i + 1 < argc && argv[i + 1][0] != '-' && std::strchr(argv[i + 1], '=')) o.sets.push_back(argv[++i]);
      if (a == "--set" && o.sets.empty()) throw Error("--set needs key=value");
    } else if (a.size() > 1 && a[0] == '-') {
      throw Error("unknown option " + a + " (see " + prog + " --help)");
    } else {
      pos.push_back(a);
    }
  }
  if (pos.size() != 2) {
    if (pos.empty()) {
      convert_usage(prog);
      return 2;
    }
    throw Error("expected IN and OUT, got " + std::to_string(pos.size()) + " file argument" +
                (pos.size() == 1 ? "" : "s") + " (see " + prog + " --help)");
  }
  o.input = pos[0];
  o.output = pos[1];
  convert_checkpoint(o, quiet ? nullptr : &std::cout);
  return 0;
}

int info_main(int argc, char** argv) {
  const char* prog = argc > 0 ? argv[0] : "reddiff info";
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::printf(
          "usage: %s MODEL\n\nPrints a reddiff model file's architecture, full config, parameter count, dtype,\n"
          "file size and FLOPs per forward pass at its native size.\n",
          prog);
      return 0;
    }
    if (a.size() > 1 && a[0] == '-') throw Error("unknown option " + a);
    pos.push_back(a);
  }
  if (pos.size() != 1) throw Error(std::string("expected one MODEL file (see ") + prog + " --help)");
  std::string text = describe_model(pos[0]);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

}  // namespace reddiff
