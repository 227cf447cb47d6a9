// reddiff convert IN OUT: released PyTorch checkpoints into reddiff model files (weights_converter/).
#include "tool/command.h"
#include "weights_converter/cli.h"

static reddiff::CommandRegistration reg("convert", "convert a PyTorch checkpoint into a reddiff model file",
                                        &reddiff::convert_main, 10);
