// main() of the programs that need the real Fashion-MNIST: when Debian's dataset-fashion-mnist is
// not installed, say so and exit with 77, which CTest reports as "skipped" (SKIP_RETURN_CODE).
// Like catch_main.cpp, this file compiles Catch2's implementation, without our strict warnings.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <tinydl/data/fashion_mnist.hpp>

#include <iostream>

int main(int argc, char** argv) {
  if (!tinydl::datasets::fashion_mnist_available()) {
    std::cout << "SKIPPED: Fashion-MNIST not found in " << tinydl::datasets::fashion_mnist_dir()
              << " (install Debian's dataset-fashion-mnist package, or set TINYDL_DATA)\n";
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
