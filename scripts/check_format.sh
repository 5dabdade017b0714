#!/usr/bin/env bash
# Fails when a C++ source file is not as clang-format writes it with the repository's
# .clang-format (Debian 12's clang-format 14, which scripts/lib/common.sh installs). To fix:
#
#   clang-format -i $(git ls-files '*.hpp' '*.cpp' '*.h')
#
# README.md and docs/api.md show parts of the examples verbatim; a test keeps them equal, so
# reformatting an example may mean copying the block again.
set -uo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "check_format: clang-format is not installed" >&2; exit 1; }
mapfile -t files < <(find include tests examples bench scripts \( -name '*.hpp' -o -name '*.cpp' -o -name '*.h' \) | sort)
if clang-format --dry-run --Werror "${files[@]}"; then
  echo "check_format: ${#files[@]} files formatted as .clang-format says ($(clang-format --version | head -n 1))"
else
  echo "check_format: the files above differ from clang-format's output; run clang-format -i on them" >&2
  exit 1
fi
