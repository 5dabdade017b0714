#pragma once
/// @file tinydl.hpp
/// The umbrella header: `#include <tinydl/tinydl.hpp>` gives the whole library.

#include "tinydl/version.hpp"

#include "tinydl/core/aligned_buffer.hpp"
#include "tinydl/core/error.hpp"
#include "tinydl/core/init.hpp"
#include "tinydl/core/parallel.hpp"
#include "tinydl/core/rng.hpp"
#include "tinydl/core/scratch.hpp"
#include "tinydl/core/shape.hpp"
#include "tinydl/core/tensor.hpp"

#include "tinydl/kernels/batchnorm.hpp"
#include "tinydl/kernels/conv2d.hpp"
#include "tinydl/kernels/dropout.hpp"
#include "tinydl/kernels/elementwise.hpp"
#include "tinydl/kernels/gemm.hpp"
#include "tinydl/kernels/im2col.hpp"
#include "tinydl/kernels/optimizer_updates.hpp"
#include "tinydl/kernels/pooling.hpp"
#include "tinydl/kernels/simd.hpp"
#include "tinydl/kernels/softmax.hpp"
#include "tinydl/kernels/window.hpp"

#include "tinydl/layers/activations.hpp"
#include "tinydl/layers/avgpool2d.hpp"
#include "tinydl/layers/batchnorm.hpp"
#include "tinydl/layers/conv2d.hpp"
#include "tinydl/layers/dense.hpp"
#include "tinydl/layers/dropout.hpp"
#include "tinydl/layers/flatten.hpp"
#include "tinydl/layers/layer.hpp"
#include "tinydl/layers/layer_registry.hpp"
#include "tinydl/layers/make_layer.hpp"
#include "tinydl/layers/maxpool2d.hpp"
#include "tinydl/layers/softmax.hpp"
#include "tinydl/layers/window_options.hpp"

#include "tinydl/losses/softmax_cross_entropy.hpp"

#include "tinydl/optim/adam.hpp"
#include "tinydl/optim/optimizer.hpp"
#include "tinydl/optim/sgd.hpp"

#include "tinydl/io/file.hpp"
#include "tinydl/io/onnx.hpp"
#include "tinydl/io/protobuf.hpp"
#include "tinydl/io/safetensors.hpp"

#include "tinydl/data/dataset.hpp"

#include "tinydl/model/callback.hpp"
#include "tinydl/model/history.hpp"
#include "tinydl/model/onnx_export.hpp"
#include "tinydl/model/predictor.hpp"
#include "tinydl/model/profile.hpp"
#include "tinydl/model/sequential.hpp"
#include "tinydl/model/serialization.hpp"
#include "tinydl/model/zoo.hpp"

#include "tinydl/callbacks/csv_logger.hpp"
#include "tinydl/callbacks/early_stopping.hpp"
#include "tinydl/callbacks/lambda_callback.hpp"
#include "tinydl/callbacks/learning_rate_scheduler.hpp"
#include "tinydl/callbacks/model_checkpoint.hpp"
#include "tinydl/callbacks/monitor.hpp"
#include "tinydl/callbacks/reduce_lr_on_plateau.hpp"
#include "tinydl/callbacks/terminate_on_nan.hpp"
#include "tinydl/model/progress_bar.hpp"

#include "tinydl/data/fashion_mnist.hpp"
#include "tinydl/data/idx.hpp"
#include "tinydl/data/one_hot.hpp"

#include "tinydl/metrics/classification.hpp"

#include "tinydl/viz/canvas.hpp"
#include "tinydl/viz/figure.hpp"
#include "tinydl/viz/figures.hpp"
#include "tinydl/viz/font.hpp"
#include "tinydl/viz/html_report.hpp"
