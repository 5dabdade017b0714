// Trains the study's three models for 2 epochs on a subset of Fashion-MNIST and saves their
// weights and training state, so that scripts/same_weights.sh can compare the files' hashes
// between two commits (a restructuring must not change a single bit). Uses only API that has
// been stable since acc2ff7, so the same source builds against both.
//
//   train_and_save OUT_DIR THREADS
#include <cstdio>
#include <cstdlib>
#include <string>

#include <tinydl/tinydl.hpp>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s OUT_DIR THREADS\n", argv[0]);
    return 2;
  }
  try {
    const std::string out = argv[1];
    tinydl::set_num_threads(std::atoi(argv[2]));
    const auto data = tinydl::datasets::fashion_mnist("", 1000);
    const auto train = data.train.slice(0, 3000), validation = data.validation.slice(0, 500);
    for (const char* name : {"mlp", "basic_cnn", "deeper_cnn"}) {
      auto model = tinydl::zoo::by_name<float>(name);
      model.build(tinydl::Shape{1, 28, 28}, 42);
      model.compile(tinydl::Adam<float>(1e-3));
      tinydl::FitOptions options;
      options.epochs = 2;
      options.batch_size = 64;
      options.seed = 7;
      options.verbose = 0;
      const tinydl::History history = model.fit(train, validation, options);
      const tinydl::Evaluation test = model.evaluate(data.test.slice(0, 1000));
      std::printf("%-10s val_loss %a  test_loss %a  test_accuracy %.4f\n", name,
                  history.epochs.back().val_loss, test.loss, test.accuracy);
      model.save(out + "/" + name + ".safetensors");
      model.save_training_state(out + "/" + name + ".state.safetensors");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
