# Shared by scripts/*.sh: logging and installing missing Debian packages. Source it; don't run it.

# Everything tinydl's build, tests, examples and benchmarks use, from Debian 12's archive.
TINYDL_PACKAGES=(
  g++ clang libomp-14-dev cmake make pkg-config git   # compilers (GCC and Clang), OpenMP, build
  clang-format                                        # the format check of scripts/test.sh
  libclang-rt-14-dev                                  # clang's libFuzzer and sanitizer runtimes (scripts/fuzz.sh; only Recommended by clang)
  nlohmann-json3-dev zlib1g-dev libstb-dev            # what the library's headers include
  catch2 libeigen3-dev                                # tests: Catch2 v2, Eigen as the oracle
  libbenchmark-dev libopenblas-dev libdnnl-dev        # benchmarks and their baselines
  ocl-icd-opencl-dev                                  # libdnnl-dev's CMake config requires OpenCL (only Recommended)
  libopenmpi-dev openmpi-bin                          # data-parallel training (include/tinydl/distributed/) and its tests
  iproute2                                            # the two-host MPI test (network namespaces joined by veth)
  dataset-fashion-mnist                               # the data of the comparison
  fonts-dejavu-core                                   # the figures' font (include/tinydl/viz/font.hpp)
  chromium                                            # the report's test in a real browser (tests/report_in_browser.sh)
)

# Packages the build uses when present and skips with a message when absent; the package check
# (scripts/check_packages.sh) accepts their files, install_missing_packages does not install them.
TINYDL_OPTIONAL_PACKAGES=(
  python3-minimal   # /usr/bin/python3, probed for the optional PyTorch loading test (python3-torch)
)

# What only the speed comparison with the peers (bench/compare_with_pytorch.sh) needs, installed
# by that script: PyTorch, the training and inference baseline and the exporter of the ONNX files
# ONNX Runtime times. (It also installs Debian's npm when no npm command is there, for ONNX
# Runtime's node package.)
TINYDL_BENCH_PACKAGES=(python3-torch)

say() { printf '\n==> %s\n' "$*"; }

# install_missing_packages [PACKAGE...]: apt-get installs whichever of the packages (default:
# TINYDL_PACKAGES) are not installed yet, through sudo when not root. Does nothing (and needs no
# network) when all are present.
install_missing_packages() {
  local missing=() p wanted=("$@")
  [ ${#wanted[@]} -gt 0 ] || wanted=("${TINYDL_PACKAGES[@]}")
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "All ${#wanted[@]} Debian packages wanted are installed"
    return 0
  fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "error: run as root or install sudo; missing: ${missing[*]}" >&2; return 1; }
    sudo=(sudo)
  fi
  say "Installing missing Debian packages: ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}
