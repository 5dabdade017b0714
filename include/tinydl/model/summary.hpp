#pragma once
/// @file summary.hpp
/// `summary(model)`: the Keras-like table of a built model (`model.summary()` calls it): each
/// layer's name and type, output shape and parameter count, then the totals.
///
///     Model: Sequential, input (N, 1, 28, 28)
///     Layer (type)                  Output shape                 Param #
///     ==================================================================
///     flatten_0 (Flatten)           (N, 784)                           0
///     dense_1 (Dense)               (N, 128)                     100,480
///     ...

#include <algorithm>
#include <cstddef>
#include <iomanip>
#include <sstream>
#include <string>

#include "tinydl/core/error.hpp"
#include "tinydl/core/shape.hpp"

namespace tinydl {

template <typename T>
class Sequential;

namespace detail {

/// 1234567 -> "1,234,567".
inline std::string with_commas(std::size_t n) {
  const std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace detail

/// The table described in the file comment, for a built model.
template <typename T>
std::string summary(const Sequential<T>& model) {
  std::ostringstream out;
  // The first column fits the longest "name (type)" ("globalaveragepooling2d_15 (GlobalAveragePooling2D)").
  std::size_t longest = 0;
  for (std::size_t i = 0; i < model.size(); ++i)
    longest = std::max(longest, model.layer(i).name().size() + model.layer(i).type().size() + 3);
  const int name_width = static_cast<int>(std::max<std::size_t>(30, longest + 2)), shape_width = 24,
            count_width = 12;
  const std::string rule(name_width + shape_width + count_width, '=');
  out << "Model: Sequential, input " << batch_of_items(model.input_shape()) << "\n";
  out << std::left << std::setw(name_width) << "Layer (type)" << std::setw(shape_width) << "Output shape"
      << std::right << std::setw(count_width) << "Param #"
      << "\n"
      << rule << "\n";
  for (std::size_t i = 0; i < model.size(); ++i) {
    out << std::left << std::setw(name_width) << (model.layer(i).name() + " (" + model.layer(i).type() + ")")
        << std::setw(shape_width) << detail::concat(batch_of_items(model.output_shape(i))) << std::right
        << std::setw(count_width) << detail::with_commas(model.layer_parameter_count(i)) << "\n";
  }
  const std::size_t trainable = model.parameter_count(true), fixed = model.parameter_count(false);
  out << rule << "\n"
      << "Total params: " << detail::with_commas(trainable + fixed) << "\n"
      << "Trainable params: " << detail::with_commas(trainable) << "\n"
      << "Non-trainable params: " << detail::with_commas(fixed) << "\n";
  return out.str();
}

}  // namespace tinydl
