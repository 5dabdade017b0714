#!/usr/bin/env bash
# Proves the README's two commands on a truly fresh Debian 12: makes a minimal bookworm root with
# debootstrap in a temporary folder, copies a clean clone of this repository's HEAD into it, and
# runs `bash scripts/compare.sh --quick` and `bash scripts/test.sh` there under chroot, as root,
# with an empty environment. Reports each command's exit status and time; exits non-zero if
# either failed. Not part of CI (it takes half an hour on 2 cores): run it before resolving an
# issue that changes packages or build files.
#
#   sudo bash scripts/fresh_machine_check.sh [--keep] [--only-compare]
#
#   --keep           leave the root (and its logs) in place for a look afterwards
#   --only-compare   run the first README command only
#
# Environment: TINYDL_DEBIAN_MIRROR (default http://deb.debian.org/debian).
# Only committed work is checked: the clone is of HEAD, as a new user would get it.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

keep=0 only_compare=0
for arg in "$@"; do
  case "$arg" in
    --keep) keep=1 ;;
    --only-compare) only_compare=1 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "error: run as root (debootstrap and chroot need it)" >&2; exit 2; }

if ! command -v debootstrap >/dev/null; then
  say "Installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get update -q && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap || exit 1
fi

mirror=${TINYDL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=$(mktemp -d /var/tmp/tinydl-fresh.XXXXXX)
root=$work/root
mounts=()
cleanup() {
  local m
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[i]}" 2>/dev/null; done
  # Whatever the commands mounted inside the root themselves (ip netns add mounts /run/netns).
  findmnt -rn -o TARGET | grep "^$root/" | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  if [ "$keep" -eq 1 ]; then echo "kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

say "debootstrap --variant=minbase bookworm $root ($mirror)"
start=$SECONDS
if ! debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
  tail -n 30 "$work/debootstrap.log"; echo "FAILED: debootstrap"; exit 1
fi
echo "root made in $((SECONDS - start)) s"

# The archive as a Debian 12 install has it: the release, its updates and security updates.
cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
rm -f "$root/etc/apt/sources.list"
cp /etc/resolv.conf "$root/etc/resolv.conf"
for m in proc sys dev dev/pts dev/shm; do
  mkdir -p "$root/$m"
  mount --bind "/$m" "$root/$m" && mounts+=("$root/$m")
done

checked=$(git rev-parse --short HEAD)  # reported at the end: HEAD may move while the check runs
say "Clean clone of HEAD ($checked) into the root"
git clone -q --no-local . "$root/root/tinydl" || { echo "FAILED: git clone"; exit 1; }

# run_in_root <label> <command>: runs one README command in the root with a bare environment,
# logs it to $work/<label>.log and records its status and time.
results=() failed=0
run_in_root() {
  local label=$1 cmd=$2 t0=$SECONDS rc
  say "[$label] $cmd (log: $work/$label.log)"
  chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash -c "cd /root/tinydl && $cmd" </dev/null >"$work/$label.log" 2>&1
  rc=$?
  tail -n 15 "$work/$label.log"
  results+=("$cmd: exit $rc in $((SECONDS - t0)) s")
  [ "$rc" -eq 0 ] || failed=1
}

run_in_root compare "bash scripts/compare.sh --quick"
[ "$only_compare" -eq 1 ] || run_in_root test "bash scripts/test.sh"

say "Fresh Debian 12 root, commit $checked, $(nproc) cores"
printf '%s\n' "${results[@]}"
if [ "$failed" -eq 0 ]; then echo "fresh machine check: PASSED"; else echo "fresh machine check: FAILED"; fi
[ "$failed" -eq 0 ]
