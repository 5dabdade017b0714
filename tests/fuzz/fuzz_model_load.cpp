// libFuzzer harness of the model loaders: load_model, load_weights and load_training_state on the
// input as a file. Anything but a tinydl::Error escaping is a crash, and so is a load that throws
// but changed the model: its weights, optimizer state, epoch count and layer counters are
// compared bit for bit with a snapshot taken before. The models are those of the seed corpus
// (tests/fuzz/make_corpus.cpp), so mutations of their files reach every check.
#include <tinydl/tinydl.hpp>

#include <cstring>
#include <vector>

#include "fuzz_models.hpp"
#include "fuzz_support.hpp"

namespace {

using namespace tinydl;

/// Every bit of a model's state that a load may change.
std::vector<char> snapshot(Sequential<float>& model) {
  std::vector<char> bytes;
  const auto add = [&](const void* p, std::size_t n) {
    const char* c = static_cast<const char*>(p);
    bytes.insert(bytes.end(), c, c + n);
  };
  for (const auto& p : model.parameters()) add(p.value.data(), p.value.size() * sizeof(float));
  const std::size_t epochs = model.epochs_completed();
  add(&epochs, sizeof epochs);
  const std::vector<std::uint64_t> counters = model.counters();
  add(counters.data(), counters.size() * sizeof(std::uint64_t));
  if (model.compiled()) {
    const Optimizer<float>& opt = model.optimizer();
    const std::uint64_t iterations = opt.iterations();
    add(&iterations, sizeof iterations);
    for (std::size_t s = 0; s < opt.slot_names().size(); ++s)
      for (std::size_t k = 0; k < opt.slot_count(); ++k)
        add(opt.slot(s, k).data(), opt.slot(s, k).size() * sizeof(float));
  }
  return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Sequential<float> weights_target = fuzz::corpus_model();
  static Sequential<float> state_target = fuzz::trained_corpus_model();
  static const std::vector<char> weights_before = snapshot(weights_target);
  static const std::vector<char> state_before = snapshot(state_target);
  const std::string& path = fuzz::scratch_path("model.safetensors");
  fuzz::write_bytes(path, data, size);

  try {
    Sequential<float> loaded = load_model<float>(path);
    fuzz::require(loaded.built(), "load_model returns a built model");
  } catch (const Error&) {
  }

  try {
    weights_target.load_weights(path);
    weights_target.set_weights(fuzz::corpus_model().get_weights());  // back to the snapshot
  } catch (const Error&) {
    fuzz::require(snapshot(weights_target) == weights_before, "a load_weights that throws changes nothing");
  }

  try {
    state_target.load_training_state(path);
    state_target = fuzz::trained_corpus_model();  // back to the snapshot
  } catch (const Error&) {
    fuzz::require(snapshot(state_target) == state_before,
                  "a load_training_state that throws changes nothing");
  }
  return 0;
}
