#pragma once
/// @file tinydl.hpp
/// The umbrella header: `#include <tinydl/tinydl.hpp>` gives the whole library.

#include "tinydl/version.hpp"

#include "tinydl/core/aligned_buffer.hpp"
#include "tinydl/core/error.hpp"
#include "tinydl/core/init.hpp"
#include "tinydl/core/parallel.hpp"
#include "tinydl/core/rng.hpp"
#include "tinydl/core/shape.hpp"
#include "tinydl/core/tensor.hpp"

#include "tinydl/kernels/elementwise.hpp"
#include "tinydl/kernels/gemm.hpp"
#include "tinydl/kernels/im2col.hpp"
#include "tinydl/kernels/pooling.hpp"
#include "tinydl/kernels/simd.hpp"
#include "tinydl/kernels/window.hpp"
