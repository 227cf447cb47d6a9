// What a restoration run reports when it is done: the single image's --csv row, the batch summary line on
// stderr, and the --json report (settings, model, device, timings, memory, per-image results, metrics).
#pragma once
#include <chrono>

#include "tool/restore_plan.h"
#include "tool/restore_run.h"
#include "tool/restore_settings.h"

namespace reddiff {

// `engine` is null when nothing was restored (no model was loaded); argv is the command's, for the report.
void report_restore(const RestoreSettings& s, const RestorePlan& p, const RestoreEngine* engine, const RestoreTotals& t,
                    std::chrono::steady_clock::time_point t_start, int argc, char** argv);

}  // namespace reddiff
