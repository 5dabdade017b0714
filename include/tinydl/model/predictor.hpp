#pragma once
/// @file predictor.hpp
/// `Predictor`: a trained model made ready for deployment, as ONNX Runtime's inference session.
/// It holds its own copy of the model (architecture and weights, taken at construction), whose
/// layers keep what inference can compute once: a Dense layer's weights stay packed in the GEMM's
/// panel format instead of being packed on every call, which for one example through a dense
/// layer was most of the work. Evaluation passes are fused as in `Sequential` (BatchNorm folded,
/// ReLU in the output stage). The outputs are those of the model, bit for bit.
///
/// The copy is a snapshot: train the model further and the Predictor still has the weights it
/// was made with; make a new one. Nothing reaches the copy's weights, so its precomputed forms
/// cannot go stale.

#include <cstddef>
#include <memory>
#include <vector>

#include "tinydl/layers/make_layer.hpp"
#include "tinydl/model/sequential.hpp"

namespace tinydl {

/// Inference on a snapshot of a built model; see the file comment.
template <typename T>
class Predictor {
 public:
  /// Copies `model`'s layers (rebuilt from their configs, so user-defined layer types that
  /// `make_layer` does not know are refused with `ConfigError`) and weights, then prepares each
  /// layer for inference. Throws `Error` if the model is not built.
  explicit Predictor(const Sequential<T>& model) {
    check<Error>(model.built(), "Predictor: the model is not built");
    for (std::size_t i = 0; i < model.size(); ++i) {
      const Layer<T>& layer = model.layer(i);
      std::unique_ptr<Layer<T>> copy = make_layer<T>(layer.type(), layer.config());
      copy->set_name(layer.name());
      model_.add(std::move(copy));
    }
    model_.build(model.input_shape());
    model_.set_weights(model.get_weights());
    for (std::size_t i = 0; i < model_.size(); ++i) model_.layer(i).prepare_inference();
  }

  /// The shape of one input item, e.g. (1, 28, 28).
  const Shape& input_shape() const { return model_.input_shape(); }
  /// The number of outputs (classes) per item.
  std::size_t classes() const { return model_.classes(); }

  /// The logits (N, classes) of a batch (N, input_shape...): an evaluation pass. The view stays
  /// valid until the next call.
  TensorView<const T> logits(TensorView<const T> x) { return model_.forward(x, Mode::eval); }

  /// Class probabilities (N, classes), computed `batch_size` items at a time (0: the default of
  /// `Sequential::predict`).
  Tensor<T> predict(TensorView<const T> x, std::size_t batch_size = 0) {
    return model_.predict(x, batch_size);
  }

 private:
  Sequential<T> model_;
};

}  // namespace tinydl
