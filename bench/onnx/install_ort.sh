# Sourced: install_onnxruntime_node PREFIX puts npm's onnxruntime-node (ORT_VERSION, default
# 1.30.0) under PREFIX/node_modules unless that version is there. ONNXRUNTIME_NODE_INSTALL=skip:
# the CPU binaries are in the package; its install script would download GPU ones, which fails.
install_onnxruntime_node() {
  local prefix=$1 version=${ORT_VERSION:-1.30.0}
  if [ ! -f "$prefix/node_modules/onnxruntime-node/package.json" ] ||
    ! grep -q "\"version\": \"$version\"" "$prefix/node_modules/onnxruntime-node/package.json"; then
    say "Installing onnxruntime-node $version into $prefix"
    mkdir -p "$prefix"
    ONNXRUNTIME_NODE_INSTALL=skip npm install --prefix "$prefix" --no-audit --no-fund "onnxruntime-node@$version"
  fi
}
