// Runs tinydl's ONNX exports in ONNX Runtime and compares the logits with tinydl's own: for each
// NAME.onnx in --models, NAME.input.bin (float32, N x 1 x 28 x 28) goes in and NAME.logits.bin
// (float32, what tinydl's evaluation pass gave) is the answer; every logit must agree to
// 1e-5 * max(1, |tinydl's|). Files from test_model "[onnx]" with TINYDL_ONNX_DIR set (see
// scripts/check_onnx.sh).
//
//   node bench/onnx/check_logits.cjs --models DIR --ort ORT_PREFIX
"use strict";
const fs = require("fs");
const path = require("path");

function option(name) {
  const i = process.argv.indexOf("--" + name);
  if (i < 0) throw new Error("missing --" + name);
  return process.argv[i + 1];
}

function floats(file) {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
}

async function main() {
  const dir = option("models");
  const ort = require(path.resolve(option("ort"), "node_modules", "onnxruntime-node"));
  let failures = 0;
  const names = fs.readdirSync(dir).filter((f) => f.endsWith(".onnx")).map((f) => f.slice(0, -5)).sort();
  if (names.length === 0) throw new Error("no .onnx files in " + dir);
  for (const name of names) {
    const session = await ort.InferenceSession.create(path.join(dir, name + ".onnx"), {
      executionProviders: ["cpu"], graphOptimizationLevel: "all"});
    const x = floats(path.join(dir, name + ".input.bin")), expected = floats(path.join(dir, name + ".logits.bin"));
    const n = x.length / (28 * 28);
    const out = await session.run({input: new ort.Tensor("float32", x, [n, 1, 28, 28])});
    const got = out.logits.data;
    let worst = 0;
    for (let i = 0; i < expected.length; ++i)
      worst = Math.max(worst, Math.abs(got[i] - expected[i]) / Math.max(1, Math.abs(expected[i])));
    const ok = got.length === expected.length && worst <= 1e-5;
    if (!ok) ++failures;
    console.log(`${name}: ${n} images, ${expected.length} logits, largest difference ${worst.toExponential(2)} ` +
                `(relative above 1) ${ok ? "ok" : "FAILED"}`);
  }
  if (failures) {
    console.error(`${failures} model(s) differ from tinydl by more than 1e-5`);
    process.exit(1);
  }
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
