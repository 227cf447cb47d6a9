#!/usr/bin/env python3
"""The one-way layers (docs/architecture.md, "Layers"): fails, naming file:line and the rule, when a source
file includes a project header against the order, and when a source file lies outside every known folder.

A file may include its own layer or a lower one, as listed per folder in ALLOWED. Two folders of the same
layer do not include each other, and neither do sibling sub-folders of one layer (kernels/network and
kernels/solver, engine/cpu and engine/cuda). bench/, tests/, fuzz/ (and any fuzz/ sub-folder), training/
are outside the order and may include anything. Project includes are rooted at the source tree
("engine/graph.h"); a layer file's quoted include must name a known folder.

Usage: check_layers.py [--root DIR]   (DIR: the source tree; default: two folders above this script)
Exit status: 0 when every include follows the order, 1 otherwise (one line per violation on stdout).
Needs only the Python standard library.
"""
import argparse
import os
import re
import sys

# folder -> layer number. CMakeLists.txt builds one library per layer with the same order.
LAYERS = {
    "base": 0,
    "kernels": 1,
    "engine": 2,
    "operators": 3,
    "weights_converter": 3,
    "solvers": 4,
    "tool": 5,
}
# What each folder may include: its own folder and some of the layers below it (never a higher layer; a
# same-layer folder only where listed, none today).
ALLOWED = {
    "base": {"base"},
    "kernels": {"kernels", "base"},
    "engine": {"engine", "kernels", "base"},
    "operators": {"operators", "engine", "kernels", "base"},
    "weights_converter": {"weights_converter", "engine", "base"},
    "solvers": {"solvers", "operators", "engine", "kernels", "base"},
    "tool": set(LAYERS),
}
# Top-level folders outside the order (they may include anything), and sub-folder names that are too.
OUTSIDE = {"bench", "tests", "fuzz", "training"}
OUTSIDE_SUBFOLDERS = {"fuzz"}
SOURCE_EXT = (".h", ".hpp", ".cpp", ".cc", ".c", ".cu", ".cuh")
# Folders that are never searched: version control, build trees (any folder holding a CMakeCache.txt is
# skipped as well), and non-source trees.
SKIP_TOP = {".git", "docs", "models", "examples"}

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def default_root():
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def source_files(root):
    """Every source file under root, as a path relative to root with '/' separators."""
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        keep = []
        for d in sorted(dirnames):
            if d.startswith(".") or (not rel_dir and d in SKIP_TOP):
                continue
            if os.path.exists(os.path.join(dirpath, d, "CMakeCache.txt")):
                continue  # a build tree
            keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            if f.endswith(SOURCE_EXT):
                yield f"{rel_dir}/{f}" if rel_dir else f


def place(rel):
    """(folder, sub-folder or None) of a file, or (None, None) when it is outside the order."""
    parts = rel.split("/")
    if parts[0] in OUTSIDE or any(p in OUTSIDE_SUBFOLDERS for p in parts[1:-1]):
        return None, None
    sub = parts[1] if len(parts) > 2 else None
    return parts[0], sub


def check_include(src_folder, src_sub, target):
    """None if a file in src_folder[/src_sub] may include target, else the rule it breaks."""
    parts = target.split("/")
    folder = parts[0]
    if folder not in LAYERS:
        return f'"{target}" is not under a layer folder ({", ".join(sorted(LAYERS))}): include project ' \
               f"headers by their path from the source root"
    src_layer, dst_layer = LAYERS[src_folder], LAYERS[folder]
    if dst_layer > src_layer:
        return f"{src_folder}/ (layer {src_layer}) may not include {folder}/ (layer {dst_layer}): " \
               f"includes go down the layers only"
    if folder not in ALLOWED[src_folder]:
        if dst_layer == src_layer:
            return f"{src_folder}/ and {folder}/ are both layer {src_layer}: same-layer folders do not include " \
                   f"each other"
        allowed = ", ".join(f"{d}/" for d in sorted(ALLOWED[src_folder], key=lambda d: -LAYERS[d]))
        return f"{src_folder}/ may include only {allowed}"
    if folder != src_folder:
        return None
    dst_sub = parts[1] if len(parts) > 2 else None
    if src_sub and dst_sub and src_sub != dst_sub:
        return f"{folder}/{src_sub}/ may not include {folder}/{dst_sub}/: sibling sub-folders of a layer do " \
               f"not include each other"
    return None


def check(root):
    """The violations, as 'file:line: message' strings."""
    problems = []
    for rel in source_files(root):
        folder, sub = place(rel)
        if folder is None:
            continue
        if folder not in LAYERS:
            problems.append(f"{rel}:1: not in a known layer folder ({', '.join(sorted(LAYERS))}) nor outside "
                            f"the order ({', '.join(sorted(OUTSIDE))}): put it in the folder of its layer")
            continue
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                m = INCLUDE_RE.match(line)
                if not m:
                    continue
                why = check_include(folder, sub, m.group(1))
                if why:
                    problems.append(f'{rel}:{n}: #include "{m.group(1)}": {why}')
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=default_root(), help="the source tree")
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    for src, dsts in ALLOWED.items():  # the table itself must point down (or to the folder itself)
        up = [d for d in dsts if LAYERS[d] > LAYERS[src] or (LAYERS[d] == LAYERS[src] and d != src)]
        if up:
            print(f"check_layers: ALLOWED[{src}] names {', '.join(up)}, not below {src}/")
            return 1
    missing = [d for d in LAYERS if not os.path.isdir(os.path.join(root, d))]
    if missing:
        print(f"check_layers: {root} has no {', '.join(missing)} folder(s): not a reddiff source tree")
        return 1
    problems = check(root)
    for p in problems:
        print(p)
    n = sum(1 for _ in source_files(root))
    if problems:
        print(f"check_layers: {len(problems)} violation(s) of the layer order in {n} source files")
        return 1
    print(f"check_layers: {n} source files follow the layer order")
    return 0


if __name__ == "__main__":
    sys.exit(main())
