#!/usr/bin/env bash
# Builds the training and validation pictures for reddiff's bundled model from Debian packages.
#
#   training/build_dataset.sh OUTDIR [--max-mb 28] [--cache DIR]
#
# Runs training/build_dataset.py (its docstring says what it does; the packages and their licences are in
# docs/models.md). Needs apt-get with package lists (run `apt-get update` first if apt-cache knows none of
# the packages), dpkg-deb, and a python3 with numpy and PIL (Debian: python3-numpy python3-pil). Set PYTHON
# to choose the interpreter (default /usr/bin/python3 when it imports PIL and numpy, else python3). The
# .deb files (about 520 MB, half of it stellarium-data) are kept in training/data/debs (or --cache) and
# reused on the next run. The held-out evaluation set is built by training/build_heldout.py, from other
# packages.
set -euo pipefail
if [[ -z "${PYTHON:-}" ]]; then
  if /usr/bin/python3 -c "import PIL, numpy" 2>/dev/null; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
if ! "$PYTHON" -c "import PIL, numpy" 2>/dev/null; then
  echo "$0: $PYTHON cannot import PIL and numpy (Debian: apt-get install python3-pil python3-numpy)" >&2
  exit 1
fi
if [[ $# -lt 1 || $1 == -h || $1 == --help ]]; then
  echo "usage: $0 OUTDIR [--max-mb MB] [--cache DIR]" >&2
  [[ $# -ge 1 ]] && exec "$PYTHON" "$(dirname "$0")/build_dataset.py" --help
  exit 2
fi
exec "$PYTHON" "$(dirname "$0")/build_dataset.py" "$@"
