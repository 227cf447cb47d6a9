#!/usr/bin/env python3
"""Tests of check_layers.py on small fake source trees: a tree that follows the layer order passes, and each
kind of violation (an include up the layers, a same-layer include, an include between sibling sub-folders,
an unrooted include, a source file outside every known folder) fails with exit status 1, naming file:line
and the rule. Needs only the Python standard library.
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKER = os.path.join(HERE, "check_layers.py")
LAYER_FOLDERS = ["base", "kernels", "engine", "operators", "weights_converter", "solvers", "tool"]

# A tree that follows the order: every layer includes lower ones; folders outside the order include upward.
GOOD = {
    "base/tensor.h": '#pragma once\n#include "base/dtype.h"\n',
    "base/dtype.h": '#pragma once\n// #include "tool/cli.h" in a comment is not an include\n',
    "kernels/kernel_common.h": '#pragma once\n#include "base/tensor.h"\n',
    "kernels/network/attention.cu": '#include "kernels/network/attention.h"\n#include "kernels/kernel_common.h"\n',
    "kernels/network/attention.h": '#pragma once\n#include "base/dtype.h"\n',
    "kernels/solver/step.h": '#pragma once\n#include "kernels/kernel_common.h"\n',
    "engine/graph.h": '#pragma once\n#include "kernels/network/attention.h"\n',
    "engine/cuda/backend.cpp": '#include "engine/graph.h"\n#include "base/tensor.h"\n',
    "operators/op.h": '#pragma once\n#include "engine/graph.h"\n#include "kernels/kernel_common.h"\n',
    "weights_converter/convert.cpp": '#include "engine/graph.h"\n#include <vector>\n',
    "weights_converter/fuzz/fuzz_x.cpp": '#include "tool/cli.h"\n',
    "solvers/solver.cpp": '#include "operators/op.h"\n#include "engine/graph.h"\n',
    "tool/cli.h": '#pragma once\n#include "solvers/solver.h"\n#include "weights_converter/convert.h"\n',
    "tests/engine/test_graph.cpp": '#include "tool/cli.h"\n#include "test_util.h"\n',
    "bench/b.cpp": '#include "tool/cli.h"\n',
    "training/t.cpp": '#include "tool/cli.h"\n',
    "docs/snippet.cpp": '#include "tool/cli.h"\n',  # docs/ is not a source tree
    "build-x/CMakeCache.txt": "",  # a build tree inside the source tree is skipped...
    "build-x/gen/bad.cpp": '#include "tool/cli.h"\n',  # ...with whatever it generated
}

# (file, content, expected file:line, expected fragment of the rule)
BAD = [
    ("kernels/network/attention.cu", '// role\n#include "base/tensor.h"\n#include "engine/graph.h"\n',
     "kernels/network/attention.cu:3:", "kernels/ (layer 1) may not include engine/ (layer 2)"),
    ("base/cuda_check.h", '#pragma once\n#include "kernels/kernel_common.h"\n',
     "base/cuda_check.h:2:", "base/ (layer 0) may not include kernels/ (layer 1)"),
    ("engine/solver_in_engine.cpp", '#include "operators/op.h"\n',
     "engine/solver_in_engine.cpp:1:", "engine/ (layer 2) may not include operators/ (layer 3)"),
    ("operators/uses_converter.cpp", '#include "engine/graph.h"\n  #  include "weights_converter/convert.h"\n',
     "operators/uses_converter.cpp:2:", "same-layer folders do not include each other"),
    ("kernels/solver/step.cu", '#include "kernels/network/attention.h"\n',
     "kernels/solver/step.cu:1:", "sibling sub-folders of a layer do not include each other"),
    ("solvers/x.cpp", '#include "tool/cli.h"\n',
     "solvers/x.cpp:1:", "solvers/ (layer 4) may not include tool/ (layer 5)"),
    ("solvers/y.cpp", '#include "weights_converter/convert.h"\n',
     "solvers/y.cpp:1:", "solvers/ may include only solvers/, operators/, engine/, kernels/, base/"),
    ("engine/unrooted.cpp", '#include "graph.h"\n',
     "engine/unrooted.cpp:1:", "is not under a layer folder"),
    ("utils/helper.cpp", "int x;\n",
     "utils/helper.cpp:1:", "not in a known layer folder"),
    ("main.cpp", "int main() {}\n",
     "main.cpp:1:", "not in a known layer folder"),
]


def write_tree(root, files):
    for d in LAYER_FOLDERS:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    for rel, text in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)


def run(root):
    r = subprocess.run([sys.executable, CHECKER, "--root", root], capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def main():
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        good = os.path.join(tmp, "good")
        write_tree(good, GOOD)
        rc, out = run(good)
        if rc != 0:
            failures.append(f"the good tree failed (rc {rc}):\n{out}")
        for i, (rel, text, where, rule) in enumerate(BAD):
            root = os.path.join(tmp, f"bad{i}")
            write_tree(root, {**GOOD, rel: text})
            rc, out = run(root)
            lines = [l for l in out.splitlines() if l.startswith(where)]
            if rc != 1:
                failures.append(f"{rel}: expected exit status 1, got {rc}:\n{out}")
            elif len(lines) != 1 or rule not in lines[0]:
                failures.append(f"{rel}: expected one line '{where} ... {rule}', got:\n{out}")
            elif sum(1 for l in out.splitlines() if not l.startswith("check_layers:")) != 1:
                failures.append(f"{rel}: expected exactly one violation, got:\n{out}")
        rc, out = run(os.path.join(tmp, "nothing-here"))
        if rc != 1 or "not a reddiff source tree" not in out:
            failures.append(f"a folder without the layer folders: expected a refusal, got rc {rc}:\n{out}")
    for f in failures:
        print("FAIL:", f)
    print(f"test_check_layers: {len(BAD) + 2 - len(failures)} of {len(BAD) + 2} cases pass")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
