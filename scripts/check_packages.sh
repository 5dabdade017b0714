#!/usr/bin/env bash
# Fails when a build used a file from a Debian package that scripts/lib/common.sh does not
# install. A green CI once hid such a package (the OpenCL headers oneDNN's CMake config needs
# were on the CI machine from a hand install, not on a fresh Debian); this makes it loud.
#
#   bash scripts/check_packages.sh BUILD_DIR...
#
# What counts as used, after configure and build:
#   - every absolute path in the compilers' depfiles (*.d: headers) and the link lines
#     (link.txt: libraries given by path);
#   - every FILEPATH entry of CMakeCache.txt (libraries and programs CMake found), and the
#     config file inside each <Package>_DIR (the find_package configs that were read).
# Not counted: the binary tools CMake's compiler detection picks by preference when they are
# installed (CMAKE_AR, CMAKE_RANLIB, CMAKE_STRIP, ... : llvm-ar beside clang) and otherwise takes
# from binutils, which g++ brings. The CI machine once had `llvm` installed and its llvm-ar
# archived a test library; a fresh machine builds the same with binutils' ar.
# Each file is mapped to its package with `dpkg -S` and must lie in the closure of
# TINYDL_PACKAGES and TINYDL_OPTIONAL_PACKAGES under Depends and Pre-Depends (apt-cache depends
# --recurse over installed packages), or in a package of priority "required" (part of every
# Debian install). Files that no package owns (built here, or installed by hand) are listed but
# do not fail the check.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
repo=$(pwd -P)

[ $# -gt 0 ] || { echo "usage: $0 BUILD_DIR..." >&2; exit 2; }
command -v dpkg-query >/dev/null || { echo "check_packages: not a Debian system; skipped"; exit 0; }

used=$(mktemp)
trap 'rm -f "$used" "$used".*' EXIT
toolchain_probe='CMAKE_(AR|RANLIB|STRIP|NM|OBJCOPY|OBJDUMP|READELF|ADDR2LINE|DLLTOOL|LINKER|MT|TAPI|[A-Z]+_COMPILER_(AR|RANLIB|CLANG_SCAN_DEPS))'
: >"$used.probed"
for dir in "$@"; do
  [ -f "$dir/CMakeCache.txt" ] || { echo "check_packages: $dir is not a configured build tree" >&2; exit 2; }
  sed -En "s/^${toolchain_probe}:FILEPATH=(\/.*)$/\3/p" "$dir/CMakeCache.txt" >>"$used.probed"
  # Depfiles and link lines: absolute paths, one per line.
  find "$dir" \( -name '*.d' -o -name link.txt \) -type f -print0 |
    xargs -0 -r cat | tr ' \\:' '\n\n\n' | grep '^/' >>"$used"
  # CMake's cache: programs and libraries it found, and the package config directories it read.
  sed -n 's/^[A-Za-z0-9_.-]*:FILEPATH=\(\/.*\)$/\1/p' "$dir/CMakeCache.txt" >>"$used"
  sed -n 's/^[A-Za-z0-9_.+-]*_DIR:PATH=\(\/.*\)$/\1/p' "$dir/CMakeCache.txt" | while read -r d; do
    ls "$d"/*[Cc]onfig.cmake 2>/dev/null
  done >>"$used"
done
sort -u -o "$used.probed" "$used.probed"
# Files of the repository and the build trees are ours, not a package's.
sort -u "$used" | comm -23 - "$used.probed" | while read -r f; do
  [ -f "$f" ] || continue
  f=$(realpath -m --no-symlinks "$f")
  case "$f" in "$repo"/*|/tmp/*) continue ;; esac
  echo "$f"
done | sort -u >"$used.files"

# owners FILE...: prints "package<TAB>file" for each file dpkg knows, in one dpkg call.
owners() {
  dpkg-query -S "$@" 2>/dev/null | grep -v '^diversion' |
    sed -n 's/^\([^:]*\)\(:[a-z0-9]*\)\{0,1\}: \(\/.*\)$/\1\t\3/p' | sed 's/,[^\t]*//'
}
# First the paths as used, then, for those dpkg does not know, with symlinks resolved
# (alternatives such as libopenblas.so) or the merged-/usr twin (/lib -> /usr/lib).
: >"$used.owned"
mapfile -t files <"$used.files"
[ ${#files[@]} -eq 0 ] || owners "${files[@]}" >"$used.owned"
cut -f2 "$used.owned" | sort -u >"$used.known"
comm -23 "$used.files" "$used.known" | while read -r f; do
  for p in "$(realpath "$f")" "${f#/usr}" "/usr$f"; do
    o=$(owners "$p" | head -n 1) && [ -n "$o" ] && { printf '%s\t%s\n' "${o%%$'\t'*}" "$f"; break; }
  done
done >>"$used.owned"
sort -u -o "$used.owned" "$used.owned"

# The allowed set: what the install list brings (with everything it depends on), plus the
# packages every Debian has.
apt-cache depends --recurse --installed --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances "${TINYDL_PACKAGES[@]}" "${TINYDL_OPTIONAL_PACKAGES[@]}" 2>/dev/null |
  grep -v '^ ' | tr -d '<>' >"$used.allowed"
dpkg-query -W -f='${Package} ${Priority}\n' | awk '$2 == "required" { print $1 }' >>"$used.allowed"
sort -u -o "$used.allowed" "$used.allowed"

bad=0
checked=$(wc -l <"$used.files")
unowned=$(comm -23 "$used.files" <(cut -f2 "$used.owned" | sort -u) | tee "$used.unowned" | wc -l)
sed 's/^/  (no package owns) /' "$used.unowned"
while IFS=$'\t' read -r pkg f; do
  grep -qxF "$pkg" "$used.allowed" && continue
  bad=$((bad + 1))
  echo "error: the build used $f from Debian package '$pkg', which TINYDL_PACKAGES does not"
  echo "       bring: a fresh machine lacks it. Add '$pkg' to TINYDL_PACKAGES in scripts/lib/common.sh"
  echo "       (or, if the build uses it only when present and skips it otherwise, list it in"
  echo "       TINYDL_OPTIONAL_PACKAGES)."
done <"$used.owned"

echo "check_packages: $checked files the build used; $bad from packages the install list does not bring; $unowned owned by no package"
[ "$bad" -eq 0 ]
