#!/usr/bin/env bash
# clang-format must leave every C++ file unchanged; clang-tidy (checks in
# .clang-tidy) must report nothing. Argument: a build dir with
# compile_commands.json.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/release}"
files=$(git ls-files '*.cc' '*.h' '*.c')
clang-format --dry-run --Werror $files
command -v clang-tidy >/dev/null || { echo "lint: clang-tidy not found" >&2; exit 1; }
srcs=$(git ls-files 'src/*.cc' | grep -v '^src/python/')
# clang-tidy exits non-zero on findings, which are read from its output
# below; a missing binary is caught above, not mistaken for a clean run.
out=$(printf '%s\n' $srcs | xargs -P "${JOBS:-2}" -n 4 clang-tidy -p "$build" --quiet 2>/dev/null || true)
if echo "$out" | grep -E "(warning|error):" ; then
  echo "lint: clang-tidy reported the findings above" >&2
  exit 1
fi
echo "lint: clang-format and clang-tidy clean"
