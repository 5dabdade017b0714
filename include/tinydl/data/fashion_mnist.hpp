#pragma once
/// @file fashion_mnist.hpp
/// Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017): 70,000 grayscale 28x28 images of clothing in 10
/// classes, read from Debian's `dataset-fashion-mnist` package (or any directory with the four
/// standard IDX files, gzipped or not). No download, ever.

#include <array>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "tinydl/data/dataset.hpp"
#include "tinydl/data/idx.hpp"

namespace tinydl::datasets {

/// Where Debian's `dataset-fashion-mnist` package puts the files.
inline const char* fashion_mnist_default_dir = "/usr/share/datasets/fashion-mnist";

/// The ten classes, by label.
inline const std::array<const char*, 10> fashion_mnist_classes{
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

/// The directory to read from: `dir` if given, else $TINYDL_DATA, else the Debian default.
inline std::string fashion_mnist_dir(const std::string& dir = "") {
  if (!dir.empty()) return dir;
  if (const char* env = std::getenv("TINYDL_DATA"); env && *env) return env;
  return fashion_mnist_default_dir;
}

/// True when `dir` (resolved as `fashion_mnist_dir` does) holds the four files.
inline bool fashion_mnist_available(const std::string& dir = "");

/// The splits: training (the first 60,000 - validation images), validation (the last
/// `validation` training images, as DESIGN.md's deterministic split), and the 10,000 test images.
/// Pixels stay uint8 (47 MB in all) with scale 1/255.
struct FashionMnist {
  Dataset<std::uint8_t> train, validation, test;
};

namespace detail {
/// The path of one of the standard files, gzipped or not; "" if neither exists.
inline std::string find_idx_file(const std::string& dir, const std::string& stem) {
  for (const char* suffix : {".gz", ""}) {
    const std::string path = dir + "/" + stem + suffix;
    if (std::filesystem::exists(path)) return path;
  }
  return "";
}

inline Dataset<std::uint8_t> load_split(const std::string& dir, const std::string& prefix) {
  const std::string images = find_idx_file(dir, prefix + "-images-idx3-ubyte");
  const std::string labels = find_idx_file(dir, prefix + "-labels-idx1-ubyte");
  check<IoError>(
      !images.empty() && !labels.empty(), dir, ": no ", prefix, "-images-idx3-ubyte(.gz) / ", prefix,
      "-labels-idx1-ubyte(.gz); install Debian's dataset-fashion-mnist package, or point --data or "
      "TINYDL_DATA at a directory with the four Fashion-MNIST files");
  Tensor<std::uint8_t> x = data::read_idx_images(images);
  Tensor<std::int32_t> y = data::read_idx_labels(labels);
  check<IoError>(x.shape()[0] == y.shape()[0], images, " has ", x.shape()[0], " images but ", labels, " has ",
                 y.shape()[0], " labels");
  check<IoError>(x.shape()[2] == 28 && x.shape()[3] == 28, images, ": expected 28x28 images, found ",
                 x.shape()[2], "x", x.shape()[3]);
  for (std::size_t i = 0; i < y.size(); ++i)
    check<IoError>(y[i] >= 0 && y[i] < 10, labels, ": label ", y[i], " of example ", i,
                   " is not a class 0-9");
  return Dataset<std::uint8_t>(std::move(x), std::move(y), 1.0 / 255);
}
}  // namespace detail

inline bool fashion_mnist_available(const std::string& dir) {
  const std::string d = fashion_mnist_dir(dir);
  for (const char* stem : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                           "t10k-labels-idx1-ubyte"})
    if (detail::find_idx_file(d, stem).empty()) return false;
  return true;
}

/// Loads Fashion-MNIST from `dir` (see `fashion_mnist_dir`), holding out the last `validation`
/// training images. Throws `IoError` naming the directory or file when something is missing or
/// corrupt, `ConfigError` when `validation` leaves no training images.
inline FashionMnist fashion_mnist(const std::string& dir = "", std::size_t validation = 6000) {
  const std::string d = fashion_mnist_dir(dir);
  Dataset<std::uint8_t> all = detail::load_split(d, "train");
  check<ConfigError>(validation < all.size(), "fashion_mnist: validation size ", validation,
                     " leaves no training images of ", all.size());
  FashionMnist out;
  out.validation = all.slice(all.size() - validation, all.size());
  out.train = all.slice(0, all.size() - validation);
  out.test = detail::load_split(d, "t10k");
  return out;
}

}  // namespace tinydl::datasets
