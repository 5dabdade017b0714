#pragma once
/// @file layer.hpp
/// `Layer<T>`: the interface every layer implements, and `Param<T>`, a named parameter with its
/// gradient.
///
/// A layer is bookkeeping around kernel calls. Its life:
///   1. constructed from its options (`Dense<float>(128)`), or from a config (`make_layer`);
///   2. `build(input_shape, rng, stream)` once: checks the input shape, creates and initialises
///      the parameters (shapes depend on the input: a Dense layer learns its in_features here);
///   3. `forward(x, y, mode)` and `backward(x, y, dy, dx)` for each batch.
///
/// The model keeps every layer's input and output alive between forward and backward and hands
/// them back to `backward`, so a layer hides no pointers to earlier calls: the chain rule is
/// visible in the signature. State a layer does need (pooling arg-max, dropout mask, batch
/// statistics) lives in buffers it sizes once for the largest batch (`reserve`).

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tinydl/core/batch_shards.hpp"
#include "tinydl/core/error.hpp"
#include "tinydl/core/rng.hpp"
#include "tinydl/core/scratch.hpp"
#include "tinydl/core/shape.hpp"
#include "tinydl/core/tensor.hpp"
#include "tinydl/layers/output_stage.hpp"

namespace tinydl {

/// Whether a forward pass is for training (batch statistics, dropout on) or evaluation.
enum class Mode { train, eval };

/// A named tensor of a layer: a trainable parameter (with its gradient) or running state that
/// is saved but not trained (BatchNorm's running statistics; `grad` is then empty).
template <typename T>
struct Param {
  Param(std::string name_, TensorView<T> value_, TensorView<T> grad_ = {}, bool integer_ = false)
      : name(std::move(name_)), value(value_), grad(grad_), integer(integer_) {}

  std::string name;  ///< PyTorch's name within the layer: "weight", "bias", "running_mean", ...
  TensorView<T> value;
  TensorView<T> grad;    ///< same shape as value; empty (null data) for untrained state
  bool integer = false;  ///< holds a count; files store it as I64 (BatchNorm's num_batches_tracked)

  bool trainable() const { return grad.data() != nullptr; }
};

/// Base class of all layers. `T` is the scalar type (float to train, double for gradient checks).
template <typename T>
class Layer {
 public:
  virtual ~Layer() = default;

  /// The layer's type as written in files and summaries: "Dense", "Conv2D", ...
  virtual std::string type() const = 0;

  /// The output shape for an input of shape `input` (batch first). Throws `ShapeError` naming the
  /// layer and both shapes when the input does not fit.
  virtual Shape output_shape(const Shape& input) const = 0;

  /// Creates and initialises the parameters for inputs shaped like `input` (the batch extent is
  /// ignored). Parameter i is drawn from `rng` on stream `stream + i`, so initial weights depend
  /// only on the seed and the layer's position. Throws `ShapeError` when the input does not fit.
  void build(const Shape& input, const CounterRng& rng, std::uint64_t stream) {
    (void)output_shape(input);  // the shape check, naming the layer and both shapes
    build_impl(input, rng, stream);
    input_ = input;
    paired_input_ = nullptr;
    shard_grads_.clear();
    shard_grads_cached_ = false;
  }

  /// How many parameter and state values `build` would create for inputs shaped like `input`,
  /// without creating them (saturating at the largest uint64 rather than overflowing): a model
  /// file's architecture is checked against the tensors it holds before anything is allocated.
  virtual std::uint64_t parameter_count(const Shape& input) const {
    (void)input;
    return 0;
  }

  /// The most values per example of a tensor the layer keeps inside beyond its output (a
  /// `Residual` block's inner outputs), for inputs shaped like `input`: a model file's
  /// architecture is checked against the memory it would take before anything is allocated.
  /// 0 (the default) for layers that keep nothing of the kind.
  virtual std::uint64_t inner_activation_values(const Shape& input) const {
    (void)input;
    return 0;
  }

  /// Sizes internal buffers for batches of up to `max_batch` so later passes allocate nothing.
  /// Optional: a larger batch than reserved grows the buffers on first use.
  virtual void reserve(std::size_t max_batch) { (void)max_batch; }

  /// y = f(x). `y` must have shape `output_shape(x.shape())`; checked, then `forward_impl` runs.
  void forward(TensorView<const T> x, TensorView<T> y, Mode mode) {
    check_shapes("forward", x.shape(), y.shape());
    paired_input_ = nullptr;  // a pass that throws pairs with nothing
    forward_impl(x, y, mode);
    // What backward may pair with: the input of this pass, whose state (batch statistics, mask,
    // arg-max) the layer now holds.
    paired_input_ = x.data();
    paired_shape_ = x.shape();
  }

  /// Given the forward pass's x and y and the loss gradient dy = dL/dy, writes dx = dL/dx and
  /// adds the parameter gradients into their `grad` tensors (zero them between steps). An empty
  /// `dx` (null data) means the input gradient is not needed (the first layer); it is skipped.
  /// Throws unless the shapes fit and `x` is the input of the last forward pass: backward
  /// differentiates that pass, in its mode (an evaluation pass has a gradient too: BatchNorm with
  /// frozen statistics), with the state it left (batch statistics, pooling arg-max, dropout mask).
  void backward(TensorView<const T> x, TensorView<const T> y, TensorView<const T> dy, TensorView<T> dx) {
    check_backward(x, y, dy, dx);
    run_backward(x, y, dy, dx, false);
  }

  // ---- fused backward passes (run by Sequential::backward) --------------------------------------

  /// Whether backward is dx = dy * (y > 0 ? 1 : 0) elementwise, a function of the output alone
  /// (ReLU). When the layer after this one `absorbs_relu_backward`, the model has that layer apply
  /// it (`backward_through_relu`) and skips this layer's pass over the whole tensor.
  virtual bool backward_is_relu() const { return false; }

  /// Whether `backward_through_relu` can do the backward of a ReLU right before this layer, whose
  /// output is this layer's input x: dx *= (x > 0), done where it costs least (MaxPool2D: only at
  /// the arg-maxes, where its dx is not zero; Conv2D: image group by image group while dx is in
  /// cache). The default: false.
  virtual bool absorbs_relu_backward() const { return false; }

  /// `backward`, then the backward of the ReLU whose output `x` is: dx becomes dL/d(the ReLU's
  /// input), bit for bit what the ReLU's own backward would have written. Checked as `backward`.
  void backward_through_relu(TensorView<const T> x, TensorView<const T> y, TensorView<const T> dy,
                             TensorView<T> dx) {
    check<Error>(absorbs_relu_backward(), who(), ": cannot do a ReLU's backward");
    check<Error>(dx.data() != nullptr, who(), ": backward_through_relu needs dx");
    check_backward(x, y, dy, dx);
    run_backward(x, y, dy, dx, true);
  }

  // ---- fused evaluation passes (output_stage.hpp; run by Sequential::forward in Mode::eval) ----

  /// Layers whose kernel can apply an `OutputStage` (Conv2D, Dense) begin one with their bias and
  /// return true; `forward_with_stage` then runs them. The default: false.
  virtual bool begin_output_stage(OutputStage<T>& stage) const {
    (void)stage;
    return false;
  }

  /// Folds this layer's evaluation pass into `stage`, the output stage of a layer before it, and
  /// returns true; or returns false (the default) when it cannot, and then runs on its own.
  virtual bool fold_into(OutputStage<T>& stage) const {
    (void)stage;
    return false;
  }

  /// Whether the evaluation pass copies x to y unchanged but for the shape (Flatten, Dropout):
  /// the model then hands x on as y without running the layer.
  virtual bool passes_through_in_eval() const { return false; }

  /// The output shape of `forward_with_stage` (a folded pooling changes it). Default: output_shape.
  virtual Shape output_shape_with_stage(const Shape& input, const OutputStage<T>& stage) const {
    (void)stage;
    return output_shape(input);
  }

  /// An evaluation pass with the stage applied: y = stage(W x) (see output_stage.hpp). Checked as
  /// `forward`, y against `output_shape_with_stage`; there is no backward of it.
  void forward_with_stage(TensorView<const T> x, TensorView<T> y, const OutputStage<T>& stage) {
    check_shapes("forward", x.shape(), output_shape(x.shape()));  // built, and x the built input's shape
    const Shape expected = output_shape_with_stage(x.shape(), stage);
    check<ShapeError>(y.shape() == expected, who(), ": forward with its output stage expected output ",
                      expected, ", got ", y.shape());
    paired_input_ = nullptr;
    forward_with_stage_impl(x, y, stage);
  }

  /// Lets the layer keep forms of its weights precomputed for inference (Dense: the GEMM's packed
  /// panels), valid while the weights do not change; from then on `backward` throws. `Predictor`
  /// calls it on its own copy of a model, whose weights nothing else can reach; nothing else should.
  void prepare_inference() {
    check<Error>(built(), who(), ": prepare_inference before build()");
    prepare_inference_impl();
    prepared_for_inference_ = true;
  }
  bool prepared_for_inference() const { return prepared_for_inference_; }

  /// Data-parallel training (core/batch_shards.hpp): while set (by the model, for training steps),
  /// the batch a pass gets is this process's part of a global batch cut into shards. Parameter
  /// gradients are then those of the whole global batch, summed over its shards in shard order;
  /// `backward` runs a layer shard by shard for that, unless the layer `handles_shards()`. Null
  /// (the default): the batch is the whole batch.
  void set_batch_shards(BatchShards* shards) { shards_ = shards; }

  /// Completes what a sharded backward began: waits for the layer's gradient exchange and writes
  /// the global batch's gradients. The model calls it for every layer after the backward pass;
  /// it does nothing when nothing is pending.
  void finish_backward() {
    if (shard_pending_) {
      shard_pending_ = false;
      shards_->finish_sum(shard_request_, shard_partials_.data(), shard_row_, shard_gathered_.data(),
                          shard_total_.data());
      const T* from = shard_total_.data();
      for (auto& g : shard_grads_) {
        std::copy(from, from + g.size(), g.begin());
        from += g.size();
      }
    }
    finish_backward_impl();
  }

  /// The shard layout set by `set_batch_shards` (null outside data-parallel training steps).
  BatchShards* batch_shards() const { return shards_; }

  /// The layer's parameters and state, named as in PyTorch. Empty for parameterless layers.
  virtual std::vector<Param<T>> params() { return {}; }

  /// Counters the layer advances while training that are not tensors, in a fixed order (Dropout's
  /// step, which selects its next mask). A training state saves them, so a resumed run draws what
  /// an unbroken run would; the model knows no concrete layer type. Empty for most layers.
  virtual std::vector<std::uint64_t> counters() const { return {}; }

  /// Restores what `counters()` returned; the model passes exactly as many values.
  virtual void set_counters(const std::vector<std::uint64_t>& values) { (void)values; }

  /// The options that rebuild this layer with `make_layer` (the input shape comes from `build`).
  virtual nlohmann::json config() const = 0;

  /// The name given by the model ("conv2d_1"); empty until named.
  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }

  /// The input shape of the last `build` (batch extent as given then); empty before.
  const Shape& input_shape() const { return input_; }
  bool built() const { return input_.rank() != 0; }

 protected:
  /// Creates the parameters; the input shape is already checked (`output_shape`). Layers without
  /// parameters need not override it.
  virtual void build_impl(const Shape& input, const CounterRng& rng, std::uint64_t stream) {
    (void)input;
    (void)rng;
    (void)stream;
  }

  /// The forward pass proper; shapes are checked before it is called.
  virtual void forward_impl(TensorView<const T> x, TensorView<T> y, Mode mode) = 0;

  /// The backward pass proper; shapes and the pairing with forward are checked before it is called.
  /// Contract: parameter gradients are added to, `dx` (when not empty) is overwritten.
  virtual void backward_impl(TensorView<const T> x, TensorView<const T> y, TensorView<const T> dy,
                             TensorView<T> dx) = 0;

  /// The pass of `backward_through_relu`, for layers whose `absorbs_relu_backward` returns true.
  /// Contract: dx is overwritten with dL/dx times the ReLU's derivative, from the ReLU's output x.
  virtual void backward_through_relu_impl(TensorView<const T> x, TensorView<const T> y,
                                          TensorView<const T> dy, TensorView<T> dx) {
    (void)x;
    (void)y;
    (void)dy;
    (void)dx;
    throw Error(detail::concat(who(), ": cannot do a ReLU's backward"));
  }

  /// The pass of `forward_with_stage`, for layers whose `begin_output_stage` returns true.
  virtual void forward_with_stage_impl(TensorView<const T> x, TensorView<T> y, const OutputStage<T>& stage) {
    (void)x;
    (void)y;
    (void)stage;
    throw Error(detail::concat(who(), ": has no output stage"));
  }

  /// Whether the layer couples the examples of a batch (BatchNorm's batch statistics) and so reads
  /// `batch_shards()` itself, in forward and backward, leaving the global batch's gradients. Other
  /// layers treat examples independently and are run shard by shard.
  virtual bool handles_shards() const { return false; }

  /// Completes what `finish_backward` must beyond the layer's own exchange: a block's inner layers'
  /// (`Residual`). Default: nothing.
  virtual void finish_backward_impl() {}

  /// Override to precompute what inference can reuse (see `prepare_inference`). Default: nothing.
  virtual void prepare_inference_impl() {}

  /// Streams as "Dense 'dense_1'" (or just "Dense" before the layer is named). The text is only
  /// built when an error message is, so checks on the hot path allocate nothing.
  struct Who {
    const Layer* layer;
    friend std::ostream& operator<<(std::ostream& out, const Who& w) {
      out << w.layer->type();
      if (!w.layer->name().empty()) out << " '" << w.layer->name() << "'";
      return out;
    }
  };
  Who who() const { return Who{this}; }

  Shape input_;  ///< the input shape of the last build (use `input_shape()` outside the layer)

 private:
  bool prepared_for_inference_ = false;

  /// Throws `ShapeError` unless `x` is a batch of the built input shape and `y` has the output
  /// shape for it; called at the start of forward and backward.
  void check_shapes(const char* pass, const Shape& x, const Shape& y) const {
    check<Error>(built(), who(), ": ", pass, " before build()");
    if (x.rank() != input_.rank() || x.rank() == 0 || x.with_batch(1) != input_.with_batch(1))
      throw ShapeError(
          detail::concat(who(), ": ", pass, " expected input ", batch_axis_as_n(input_), ", got ", x));
    const Shape expected = output_shape(x);
    check<ShapeError>(y == expected, who(), ": ", pass, " for input ", x, " expected output ", expected,
                      ", got ", y);
  }

  /// backward_impl, or backward_through_relu_impl; shard by shard in data-parallel training.
  void run_backward(TensorView<const T> x, TensorView<const T> y, TensorView<const T> dy, TensorView<T> dx,
                    bool through_relu) {
    if (shards_ && !handles_shards() && trainable())
      backward_by_shard(x, y, dy, dx, through_relu);
    else if (through_relu)
      backward_through_relu_impl(x, y, dy, dx);
    else
      backward_impl(x, y, dy, dx);
  }

  /// Everything `backward` checks: not prepared for inference, the shapes, the pairing with forward.
  void check_backward(const TensorView<const T>& x, const TensorView<const T>& y,
                      const TensorView<const T>& dy, const TensorView<T>& dx) const {
    check<Error>(!prepared_for_inference_, who(),
                 ": prepared for inference (a Predictor's copy of a model), it does not train");
    check_backward_shapes(x, y, dy, dx);
    if (paired_input_ == nullptr || x.data() != paired_input_ || x.shape() != paired_shape_)
      throw Error(
          detail::concat(who(), ": backward's x must be the input of the last forward pass (",
                         paired_input_ == nullptr ? "there was none since build" : "it is another tensor",
                         "): backward uses the state that pass left"));
  }

  /// The checks of `check_shapes` for backward, plus dy shaped like y and dx (if given) like x.
  void check_backward_shapes(const TensorView<const T>& x, const TensorView<const T>& y,
                             const TensorView<const T>& dy, const TensorView<T>& dx) const {
    check_shapes("backward", x.shape(), y.shape());
    check<ShapeError>(dy.shape() == y.shape(), who(), ": backward expected dy ", y.shape(),
                      " (the output's shape), got ", dy.shape());
    check<ShapeError>(!dx.data() || dx.shape() == x.shape(), who(), ": backward expected dx ", x.shape(),
                      " (the input's shape), got ", dx.shape());
  }

  /// Whether the layer has trainable parameters; their gradients are cached for backward_by_shard.
  bool trainable() {
    if (!shard_grads_cached_) {
      for (auto& p : params())
        if (p.trainable()) shard_grads_.push_back(p.grad);
      shard_grads_cached_ = true;
    }
    return !shard_grads_.empty();
  }

  /// backward_impl on each local shard in turn, the gradients of each kept as one row of
  /// partials; then every process's rows are gathered and summed in shard order into the
  /// gradients (which the model zeroed before the step).
  void backward_by_shard(TensorView<const T> x, TensorView<const T> y, TensorView<const T> dy,
                         TensorView<T> dx, bool through_relu) {
    BatchShards& shards = *shards_;
    std::size_t row = 0;
    for (const auto& g : shard_grads_) row += g.size();
    ensure_capacity(shard_partials_, shards.local_shards() * row);
    ensure_capacity(shard_gathered_, shards.shards() * row);
    for (std::size_t i = 0; i < shards.local_shards(); ++i) {
      const std::size_t begin = shards.local_begin(i), end = shards.local_begin(i + 1);
      if (end > begin && through_relu)
        backward_through_relu_impl(x.slice(begin, end), y.slice(begin, end), dy.slice(begin, end),
                                   dx.slice(begin, end));
      else if (end > begin)
        backward_impl(x.slice(begin, end), y.slice(begin, end), dy.slice(begin, end),
                      dx.data() ? dx.slice(begin, end) : TensorView<T>());
      T* partial = shard_partials_.data() + i * row;
      for (auto& g : shard_grads_) {  // this shard's gradient -> its row; zero for the next shard
        std::copy(g.begin(), g.end(), partial);
        std::fill(g.begin(), g.end(), T(0));
        partial += g.size();
      }
    }
    // One exchange for all of the layer's parameters (a bucket per layer, as PyTorch's DDP),
    // begun now and finished by finish_backward, while the layers below run their backward.
    ensure_capacity(shard_total_, row);
    shard_row_ = row;
    shard_request_ = shards.start_sum(shard_partials_.data(), row, shard_gathered_.data());
    shard_pending_ = true;
  }

  std::string name_;
  BatchShards* shards_ = nullptr;
  std::vector<TensorView<T>> shard_grads_;  // the trainable gradients (cached: no allocation per step)
  bool shard_grads_cached_ = false;
  AlignedBuffer<T> shard_partials_, shard_gathered_, shard_total_;  // rows of backward_by_shard
  std::size_t shard_row_ = 0, shard_request_ = 0;                   // the exchange it began
  bool shard_pending_ = false;
  const T* paired_input_ = nullptr;  ///< x of the last forward; null before the first
  Shape paired_shape_;
};

}  // namespace tinydl
