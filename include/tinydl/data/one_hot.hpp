#pragma once
/// @file one_hot.hpp
/// `one_hot`: class labels to rows of a (N, classes) matrix with a 1 in the label's column, the
/// soft-target form `SoftmaxCrossEntropy` also accepts.

#include <cstdint>

#include "tinydl/core/error.hpp"
#include "tinydl/core/tensor.hpp"

namespace tinydl {

/// (N) labels -> (N, classes) one-hot rows. Throws `Error` for a label outside [0, classes).
template <typename T, typename Label>
Tensor<T> one_hot(TensorView<const Label> labels, std::size_t classes) {
  check<ShapeError>(labels.rank() == 1, "one_hot: expected labels (N), got ", labels.shape());
  Tensor<T> out(Shape{labels.shape()[0], classes});
  for (std::size_t i = 0; i < labels.size(); ++i) {
    check<Error>(labels[i] >= 0 && static_cast<std::size_t>(labels[i]) < classes, "one_hot: label ",
                 static_cast<long long>(labels[i]), " of example ", i, " is outside [0, ", classes, ")");
    out[i * classes + static_cast<std::size_t>(labels[i])] = T(1);
  }
  return out;
}

}  // namespace tinydl
