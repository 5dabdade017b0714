#pragma once
/// @file residual.hpp
/// `Residual`: a residual block (He et al., 2016), a layer that holds two stacks of its own, the
/// body f and the shortcut s:
///
///     forward    y = f(x) + s(x)            s = identity when the shortcut is empty
///     backward   dL/dx = f'(x)^T dy + s'(x)^T dy
///
/// The gradient reaches x along both paths and the two contributions add: that sum is why a deep
/// stack of blocks still trains (the identity path carries dy down unchanged). When the body
/// changes the shape (more channels, a stride) and no shortcut is given, the block adds the usual
/// projection, a 1x1 Conv2D without bias whose stride maps the input's size onto the output's.
///
///     Residual<float> block;
///     block.add(Conv2D<float>(64, 3, 2, Padding::same())).add(BatchNorm<float>()).add(ReLU<float>())
///          .add(Conv2D<float>(64, 3, 1, Padding::same())).add(BatchNorm<float>());
///     block.add_shortcut(Conv2D<float>(64, 1, 2, Padding::valid(), false)).add_shortcut(BatchNorm<float>());
///     model.add(std::move(block)).add(ReLU<float>());
///
/// Blocks nest (a body may hold a Residual). Parameter names follow a PyTorch module that keeps
/// the body as children "0", "1", ... and the shortcut as "shortcut.0", ...: inside the model's
/// layer 2 they read "2.0.weight", "2.shortcut.1.running_mean", so `load_state_dict` of that
/// module reads a saved block (tests/reference/make_layers.py has it).
///
/// The block keeps its inner outputs between forward and backward (planned by `reserve`), runs
/// its stacks with the fusions `Sequential` uses (a ReLU's backward done by the layer after it;
/// in evaluation, output stages), and in data-parallel training hands the shard layout to its
/// inner layers, which exchange their own gradients (`handles_shards`, `finish_backward_impl`).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tinydl/core/aligned_buffer.hpp"
#include "tinydl/core/parallel.hpp"
#include "tinydl/core/rng.hpp"
#include "tinydl/kernels/elementwise.hpp"
#include "tinydl/layers/conv2d.hpp"
#include "tinydl/layers/fused_forward.hpp"
#include "tinydl/layers/layer.hpp"

namespace tinydl {

/// A residual block; see the file comment.
template <typename T>
class Residual : public Layer<T> {
 public:
  Residual() = default;

  /// Appends a layer to the body (by value: `block.add(Conv2D<float>(32, 3))`). Returns the block.
  template <typename L, typename = std::enable_if_t<std::is_base_of_v<Layer<T>, L>>>
  Residual& add(L layer) {
    return add(std::unique_ptr<Layer<T>>(new L(std::move(layer))));
  }
  Residual& add(std::unique_ptr<Layer<T>> layer) { return append(body_, std::move(layer), "add"); }

  /// Appends a layer to the shortcut (empty: the identity, or the automatic projection).
  template <typename L, typename = std::enable_if_t<std::is_base_of_v<Layer<T>, L>>>
  Residual& add_shortcut(L layer) {
    return add_shortcut(std::unique_ptr<Layer<T>>(new L(std::move(layer))));
  }
  Residual& add_shortcut(std::unique_ptr<Layer<T>> layer) {
    return append(shortcut_, std::move(layer), "add_shortcut");
  }

  std::string type() const override { return "Residual"; }

  std::size_t body_size() const { return body_.size(); }
  Layer<T>& body(std::size_t i) { return *body_.at(i); }
  const Layer<T>& body(std::size_t i) const { return *body_.at(i); }
  /// The shortcut's layers, the automatic projection included once built.
  std::size_t shortcut_size() const { return shortcut_.size(); }
  Layer<T>& shortcut(std::size_t i) { return *shortcut_.at(i); }
  const Layer<T>& shortcut(std::size_t i) const { return *shortcut_.at(i); }
  /// Whether the shortcut is the projection the block added itself (not saved in `config`).
  bool projection_is_automatic() const { return automatic_projection_; }

  Shape output_shape(const Shape& input) const override {
    check<ConfigError>(!body_.empty(), this->who(), ": the block has no layers; add() its body first");
    const Shape out = walk(body_, input, "body");
    if (shortcut_.empty()) {
      if (out != input)
        (void)projection_stride(input, out);  // throws unless a 1x1 convolution can map input to out
      return out;
    }
    const Shape skip = walk(shortcut_, input, "shortcut");
    check<ShapeError>(skip == out, this->who(), ": the body maps ", input, " to ", out,
                      " but the shortcut to ", skip, "; both must give the same shape");
    return out;
  }

  std::uint64_t parameter_count(const Shape& input) const override {
    std::uint64_t total = 0;
    try {
      count_parameters(input, total);
    } catch (const Error&) {  // an input the block does not fit: output_shape says why
    }
    return total;
  }

  std::uint64_t inner_activation_values(const Shape& input) const override {
    std::uint64_t largest = input.item_numel();
    for (const auto* stack : {&body_, &shortcut_}) {
      Shape shape = input;
      for (const auto& layer : *stack) {
        largest = std::max(largest, layer->inner_activation_values(shape));
        shape = layer->output_shape(shape);
        largest = std::max<std::uint64_t>(largest, shape.item_numel());
      }
    }
    return largest;
  }

  void reserve(std::size_t max_batch) override {
    check<Error>(this->built(), this->who(), ": reserve before build()");
    max_batch = std::max<std::size_t>(max_batch, 1);  // (a data-parallel part may be empty)
    if (max_batch <= capacity_) return;
    std::size_t largest = this->input_.item_numel();
    for (auto* outputs : {&body_outputs_, &shortcut_outputs_})
      for (Tensor<T>& out : *outputs) {
        Shape item = tinydl::item_shape(out.shape());
        out = Tensor<T>(prepend_batch(max_batch, item));
        largest = std::max(largest, item.numel());
      }
    for (auto& buffer : gradients_) buffer = AlignedBuffer<T>(largest * max_batch);
    if (!shortcut_.empty()) shortcut_dx_ = AlignedBuffer<T>(this->input_.item_numel() * max_batch);
    for (auto* stack : {&body_, &shortcut_})
      for (auto& layer : *stack) layer->reserve(max_batch);
    capacity_ = max_batch;
  }

  /// The body's parameters named "<position>.<name>", then the shortcut's "shortcut.<position>.<name>".
  std::vector<Param<T>> params() override {
    std::vector<Param<T>> all;
    for (const auto* stack : {&body_, &shortcut_}) {
      const std::string prefix = stack == &body_ ? "" : "shortcut.";
      for (std::size_t i = 0; i < stack->size(); ++i)
        for (Param<T>& p : (*stack)[i]->params()) {
          p.name = prefix + std::to_string(i) + "." + p.name;
          all.push_back(std::move(p));
        }
    }
    return all;
  }

  std::vector<std::uint64_t> counters() const override {
    std::vector<std::uint64_t> all;
    for (const auto* stack : {&body_, &shortcut_})
      for (const auto& layer : *stack) {
        const std::vector<std::uint64_t> mine = layer->counters();
        all.insert(all.end(), mine.begin(), mine.end());
      }
    return all;
  }

  void set_counters(const std::vector<std::uint64_t>& values) override {
    auto next = values.begin();
    for (auto* stack : {&body_, &shortcut_})
      for (auto& layer : *stack) {
        const auto count = static_cast<std::ptrdiff_t>(layer->counters().size());
        if (count == 0) continue;
        check<ConfigError>(values.end() - next >= count, this->who(), ": too few counters");
        layer->set_counters(std::vector<std::uint64_t>(next, next + count));
        next += count;
      }
  }

  /// {"body": [{"type", "config"}, ...], "shortcut": [...]}; an automatic projection is not
  /// written (`build` adds it again).
  nlohmann::json config() const override {
    const auto describe = [](const std::vector<std::unique_ptr<Layer<T>>>& stack, std::size_t count) {
      nlohmann::json layers = nlohmann::json::array();
      for (std::size_t i = 0; i < count; ++i)
        layers.push_back({{"type", stack[i]->type()}, {"config", stack[i]->config()}});
      return layers;
    };
    return {{"body", describe(body_, body_.size())},
            {"shortcut", describe(shortcut_, automatic_projection_ ? 0 : shortcut_.size())}};
  }

 protected:
  /// Builds the body, then the shortcut (adding the projection when the shapes differ). Inner
  /// layer i of the body draws from substream(stream, 2 i), of the shortcut from 2 i + 1.
  void build_impl(const Shape& input, const CounterRng& rng, std::uint64_t stream) override {
    if (automatic_projection_) shortcut_.clear();  // built again: derive it again
    automatic_projection_ = false;
    const Shape out = build_stack(body_, input, rng, stream, 0, "");
    if (shortcut_.empty() && out != input) {
      shortcut_.push_back(std::make_unique<Conv2D<T>>(out[1], 1, projection_stride(input, out),
                                                      Padding::valid(), false, Initializer::he_normal));
      automatic_projection_ = true;
    }
    build_stack(shortcut_, input, rng, stream, 1, "shortcut.");
    body_outputs_.clear();
    shortcut_outputs_.clear();
    for (auto* stack : {&body_, &shortcut_}) {
      Shape shape = input;
      for (auto& layer : *stack) {
        shape = layer->output_shape(shape);
        (stack == &body_ ? body_outputs_ : shortcut_outputs_)
            .emplace_back(prepend_batch(1, item_shape(shape)));
      }
    }
    capacity_ = 0;
  }

  /// y = f(x) + s(x). In evaluation the stacks run fused (fused_forward.hpp).
  void forward_impl(TensorView<const T> x, TensorView<T> y, Mode mode) override {
    const std::size_t n = x.shape()[0];
    reserve(n);
    for (auto* stack : {&body_, &shortcut_})
      for (auto& layer : *stack) layer->set_batch_shards(this->batch_shards());
    TensorView<const T> body_out, skip;
    fused_eval_ = mode == Mode::eval;
    if (fused_eval_) {
      body_out =
          forward_fused(body_, body_stages_, x, [this, n](std::size_t k) { return body_output(k - 1, n); });
      skip = shortcut_.empty() ? x : forward_fused(shortcut_, shortcut_stages_, x, [this, n](std::size_t k) {
        return shortcut_output(k - 1, n);
      });
    } else {
      body_out = forward_stack(body_, x, mode, [this, n](std::size_t i) { return body_output(i, n); });
      skip = forward_stack(shortcut_, x, mode, [this, n](std::size_t i) { return shortcut_output(i, n); });
    }
    sum(body_out.data(), skip.data(), y.data(), y.size());
  }

  /// dL/dx = f'^T dy + s'^T dy: the body's chain rule writes dx, the shortcut's (or dy itself, for
  /// the identity) is added to it. Parameter gradients add up inside each inner layer.
  void backward_impl(TensorView<const T> x, TensorView<const T>, TensorView<const T> dy,
                     TensorView<T> dx) override {
    backward_block(x, dy, dx, false);
  }

  /// After a ReLU (the block's input is its output), its backward is applied while the two
  /// gradients are summed: one pass over dx instead of two.
  bool absorbs_relu_backward() const override { return true; }

  void backward_through_relu_impl(TensorView<const T> x, TensorView<const T>, TensorView<const T> dy,
                                  TensorView<T> dx) override {
    backward_block(x, dy, dx, true);
  }

  /// Every inner layer does its own examples-coupling (BatchNorm) and gradient exchange.
  bool handles_shards() const override { return true; }

  void finish_backward_impl() override {
    for (auto* stack : {&body_, &shortcut_})
      for (auto& layer : *stack) layer->finish_backward();
  }

  void prepare_inference_impl() override {
    for (auto* stack : {&body_, &shortcut_})
      for (auto& layer : *stack) layer->prepare_inference();
  }

 private:
  using Stack = std::vector<std::unique_ptr<Layer<T>>>;

  Residual& append(Stack& stack, std::unique_ptr<Layer<T>> layer, const char* what) {
    check<ConfigError>(layer != nullptr, "Residual::", what, ": null layer");
    check<ConfigError>(!this->built(), "Residual::", what, ": the block is already built");
    if (automatic_projection_) {  // (a block built once and then given its own shortcut)
      shortcut_.clear();
      automatic_projection_ = false;
    }
    stack.push_back(std::move(layer));
    return *this;
  }

  /// Adds the parameter count of every inner layer (and of the automatic projection) to `total`;
  /// throws when an inner layer does not fit.
  void count_parameters(const Shape& input, std::uint64_t& total) const {
    const auto add_count = [&total](std::uint64_t n) {
      total = n > std::numeric_limits<std::uint64_t>::max() - total
                  ? std::numeric_limits<std::uint64_t>::max()
                  : total + n;
    };
    Shape shape = input;
    for (const auto& layer : body_) {
      add_count(layer->parameter_count(shape));
      shape = layer->output_shape(shape);
    }
    if (shortcut_.empty() && shape != input && input.rank() == 4 && shape.rank() == 4)
      add_count(saturating_multiply(input[1], shape[1]));
    Shape skip = input;
    for (const auto& layer : shortcut_) {
      add_count(layer->parameter_count(skip));
      skip = layer->output_shape(skip);
    }
  }

  /// The output shape of `stack` for `input`, naming the inner layer that does not fit.
  Shape walk(const Stack& stack, Shape shape, const char* part) const {
    for (std::size_t i = 0; i < stack.size(); ++i) {
      try {
        shape = stack[i]->output_shape(shape);
      } catch (const ShapeError& e) {
        throw ShapeError(detail::concat(this->who(), ": ", part, " layer ", i, " (", stack[i]->type(),
                                        ") does not fit its input ", shape, ": ", e.what()));
      }
    }
    return shape;
  }

  /// The stride of the 1x1 convolution that maps `input` (N, C, H, W) onto `out`'s height and
  /// width: the smallest s with (H - 1) / s + 1 = OH (and likewise for W). Throws `ShapeError`
  /// when there is none, asking for a shortcut of the user's own.
  Size2d projection_stride(const Shape& input, const Shape& out) const {
    const auto fail = [&] {
      return ShapeError(detail::concat(this->who(), ": the body maps ", input, " to ", out,
                                       ", which no 1x1 convolution does; add_shortcut() layers that do"));
    };
    if (input.rank() != 4 || out.rank() != 4) throw fail();
    const auto stride_for = [](std::size_t in, std::size_t o) -> std::size_t {
      for (std::size_t s = 1; s <= in; ++s)
        if ((in - 1) / s + 1 == o) return s;
      return 0;
    };
    const std::size_t sh = stride_for(input[2], out[2]), sw = stride_for(input[3], out[3]);
    if (sh == 0 || sw == 0) throw fail();
    return Size2d(sh, sw);
  }

  /// Builds each layer of `stack` on the shapes flowing through it; names them after the block.
  Shape build_stack(Stack& stack, Shape shape, const CounterRng& rng, std::uint64_t stream,
                    std::uint64_t which, const std::string& prefix) {
    for (std::size_t i = 0; i < stack.size(); ++i) {
      Layer<T>& layer = *stack[i];
      layer.set_name((this->name().empty() ? std::string("residual") : this->name()) + "." + prefix +
                     std::to_string(i));
      layer.build(shape, rng, substream(stream, 2 * i + which));
      shape = layer.output_shape(shape);
    }
    return shape;
  }

  TensorView<T> body_output(std::size_t i, std::size_t n) { return body_outputs_[i].slice(0, n); }
  TensorView<T> shortcut_output(std::size_t i, std::size_t n) { return shortcut_outputs_[i].slice(0, n); }

  /// Runs x through `stack` layer by layer, output i into `output(i)`; returns the last output
  /// (x itself for an empty stack).
  template <typename Output>
  static TensorView<const T> forward_stack(Stack& stack, TensorView<const T> x, Mode mode, Output&& output) {
    TensorView<const T> in = x;
    for (std::size_t i = 0; i < stack.size(); ++i) {
      const TensorView<T> out = output(i);
      stack[i]->forward(in, out, mode);
      in = out;
    }
    return in;
  }

  /// The chain rule down `stack` from dy to dx (empty: not wanted), through the two gradient
  /// buffers in turn. A ReLU's backward is done by the layer after it when that layer can (as in
  /// Sequential::backward).
  template <typename Output>
  void backward_stack(Stack& stack, TensorView<const T> x, TensorView<const T> dy, TensorView<T> dx,
                      Output&& output) {
    std::size_t buffer = 0;
    for (std::size_t i = stack.size(); i-- > 0;) {
      const bool through_relu = i >= 1 && stack[i - 1]->backward_is_relu() &&
                                stack[i]->absorbs_relu_backward() && (i >= 2 || dx.data());
      const std::size_t lowest = through_relu ? i - 1 : i;  // the layer whose dx this step writes
      const TensorView<const T> in = i == 0 ? x : TensorView<const T>(output(i - 1));
      const TensorView<T> d = lowest == 0 ? dx : TensorView<T>(gradients_[buffer].data(), in.shape());
      buffer ^= 1;
      if (through_relu)
        stack[i]->backward_through_relu(in, output(i), dy, d);
      else
        stack[i]->backward(in, output(i), dy, d);
      dy = d;
      i = lowest;
    }
  }

  /// backward_impl, and with `through_relu` also the backward of the ReLU whose output x is.
  void backward_block(TensorView<const T> x, TensorView<const T> dy, TensorView<T> dx, bool through_relu) {
    const std::size_t n = x.shape()[0];
    if (fused_eval_) {  // the fused pass kept no inner outputs to differentiate: run it layer by layer
      fused_eval_ = false;
      forward_stack(body_, x, Mode::eval, [this, n](std::size_t i) { return body_output(i, n); });
      forward_stack(shortcut_, x, Mode::eval, [this, n](std::size_t i) { return shortcut_output(i, n); });
    }
    backward_stack(body_, x, dy, dx, [this, n](std::size_t i) { return body_output(i, n); });
    if (shortcut_.empty()) {
      if (dx.data()) sum(dx.data(), dy.data(), dx.data(), dx.size(), through_relu ? x.data() : nullptr);
      return;
    }
    TensorView<T> skip_dx = dx.data() ? TensorView<T>(shortcut_dx_.data(), x.shape()) : TensorView<T>();
    backward_stack(shortcut_, x, dy, skip_dx, [this, n](std::size_t i) { return shortcut_output(i, n); });
    if (dx.data()) sum(dx.data(), skip_dx.data(), dx.data(), dx.size(), through_relu ? x.data() : nullptr);
  }

  /// y = a + b elementwise, in parallel (y may be a or b); times relu'(r) when r is given.
  static void sum(const T* a, const T* b, T* y, std::size_t n, const T* r = nullptr) {
    parallel_ranges(n, [a, b, y, r](std::size_t begin, std::size_t end) {
      if (r)
        kernels::add_times_relu_derivative(end - begin, a + begin, b + begin, r + begin, y + begin);
      else
        kernels::add(end - begin, a + begin, b + begin, y + begin);
    });
  }

  Stack body_, shortcut_;
  bool automatic_projection_ = false;
  std::vector<Tensor<T>> body_outputs_, shortcut_outputs_;  // inner outputs, for capacity_ examples
  std::vector<OutputStage<T>> body_stages_, shortcut_stages_;
  AlignedBuffer<T> gradients_[2];  // dL/d(inner output), used in turn going backward
  AlignedBuffer<T> shortcut_dx_;   // the shortcut's part of dL/dx
  std::size_t capacity_ = 0;
  bool fused_eval_ = false;  // whether the last forward ran fused (kept no inner outputs)
};

}  // namespace tinydl
