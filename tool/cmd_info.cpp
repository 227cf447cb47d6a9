// reddiff info MODEL: architecture, config, parameter count, dtype, size and FLOPs of a model file.
#include "tool/command.h"
#include "weights_converter/cli.h"

static reddiff::CommandRegistration reg("info", "describe a reddiff model file", &reddiff::info_main, 11);
