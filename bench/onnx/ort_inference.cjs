// ONNX Runtime's inference throughput (batch 256) and latency (batch 1) for the study models
// exported by export_study_models.py: the baseline beside bench_train's inference/ and latency/
// figures. CPU execution provider, every graph optimisation (ORT folds BatchNorm into the
// convolutions and fuses the activations), `--threads` intra-op threads, sequential execution.
//
//   node bench/onnx/ort_inference.cjs --models DIR --ort ORT_PREFIX [--threads 2] [--passes 5]
//
// ORT_PREFIX is the folder where `ONNXRUNTIME_NODE_INSTALL=skip npm install --prefix ORT_PREFIX
// onnxruntime-node` put node_modules (the skip avoids a GPU download; the CPU binaries are in the
// package). Batch 256: 10,000 random images per pass, median of `passes` passes after a warm-up.
// Batch 1: median of 2,000 single-image runs, each timed alone (includes node's call overhead
// of a few microseconds, as a user of the binding pays it).
"use strict";
const path = require("path");

function option(name, fallback) {
  const i = process.argv.indexOf("--" + name);
  if (i < 0) {
    if (fallback === undefined) throw new Error("missing --" + name);
    return fallback;
  }
  return process.argv[i + 1];
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function seconds(start) {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function main() {
  const models = option("models");
  const ort = require(path.resolve(option("ort"), "node_modules", "onnxruntime-node"));
  const threads = Number(option("threads", "2")), passes = Number(option("passes", "5"));
  const images = 10000, batch = 256, pixels = 28 * 28;
  const data = new Float32Array(images * pixels);
  let state = 12345;  // a fixed LCG: pixels in [0, 1)
  for (let i = 0; i < data.length; ++i) {
    state = (state * 1103515245 + 12345) % 2147483648;
    data[i] = state / 2147483648;
  }
  console.log(`onnxruntime-node ${require(path.resolve(option("ort"), "node_modules", "onnxruntime-node", "package.json")).version}, ${threads} threads`);
  for (const name of ["mlp", "basic_cnn", "deeper_cnn", "resnet"]) {
    const session = await ort.InferenceSession.create(path.join(models, name + ".onnx"), {
      executionProviders: ["cpu"], graphOptimizationLevel: "all", intraOpNumThreads: threads,
      interOpNumThreads: 1, executionMode: "sequential",
    });
    const feed = (first, count) =>
      ({ images: new ort.Tensor("float32", data.subarray(first * pixels, (first + count) * pixels), [count, 1, 28, 28]) });
    const times = [];
    for (let pass = 0; pass <= passes; ++pass) {
      const start = process.hrtime.bigint();
      for (let first = 0; first < images; first += batch) await session.run(feed(first, Math.min(batch, images - first)));
      times.push(seconds(start));
    }
    const throughput = images / median(times.slice(1));  // the first pass warms up
    const single = [];
    for (let i = 0; i < 2200; ++i) {
      const input = feed(i % images, 1);
      const start = process.hrtime.bigint();
      await session.run(input);
      if (i >= 200) single.push(seconds(start));
    }
    console.log(`${name}: ${Math.round(throughput).toLocaleString("en-US")} images/s (${threads} threads, batch 256); ` +
                `batch 1: ${(median(single) * 1e6).toFixed(1)} us`);
  }
}

main().catch((e) => { console.error(e.message || e); process.exit(1); });
