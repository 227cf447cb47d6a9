#!/bin/bash
# The house style (.clang-format at the repository root, Debian's clang-format 14) holds for every C++ and
# CUDA source git tracks. Prints each file that differs and the command that fixes them; exit 1 then.
#   check_format.sh ROOT              check the tree
#   check_format.sh ROOT --self-test  prove the check fails on a misformatted file and passes once fixed
set -u
root=${1:?usage: check_format.sh ROOT [--self-test]}
cf=$(command -v clang-format || command -v clang-format-14 || true)
[ -n "$cf" ] || { echo "check_format: clang-format not found (apt-get install clang-format)"; exit 1; }

if [ "${2:-}" = --self-test ]; then
  t=$(mktemp -d)
  trap 'rm -rf "$t"' EXIT
  cp "$root/.clang-format" "$t/"
  printf 'int  f( int a ){return a+1;}\n' >"$t/bad.cpp"
  if "$cf" --dry-run -Werror "$t/bad.cpp" >/dev/null 2>&1; then echo "self-test: a misformatted file passed"; exit 1; fi
  "$cf" -i "$t/bad.cpp"
  "$cf" --dry-run -Werror "$t/bad.cpp" || { echo "self-test: a formatted file failed"; exit 1; }
  echo "self-test: ok"
  exit 0
fi

cd "$root" || exit 1
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.cpp' '*.h' '*.cu' '*.cuh')
else
  mapfile -t files < <(find . -path ./build -prune -o \( -name '*.cpp' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) -print)
fi
bad=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  "$cf" --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  printf 'check_format: not in the house style: %s\n' "${bad[@]}"
  echo "check_format: fix with: clang-format -i ${bad[*]}"
  exit 1
fi
echo "check_format: ${#files[@]} files in the house style"
