// Data-parallel training over MPI: the same program runs alone (`./data_parallel`) or on N
// processes (`mpirun -np N ./data_parallel`), on one machine or many, and writes the same file.
#include <tinydl/distributed/mpi_communicator.hpp>
#include <tinydl/tinydl.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  using namespace tinydl;
  distributed::MpiSession mpi(argc, argv);  // MPI_Init here, MPI_Finalize at the end
  distributed::MpiCommunicator world;       // every process mpirun started
  const std::string dir = datasets::fashion_mnist_dir("");
  if (!datasets::fashion_mnist_available(dir)) {
    std::fprintf(stderr, "data_parallel: Fashion-MNIST not found (apt-get install dataset-fashion-mnist)\n");
    return 77;
  }
  const datasets::FashionMnist data = datasets::fashion_mnist(dir);  // every process reads it all

  Sequential<float> model = zoo::basic_cnn<float>();
  model.build(Shape{1, 28, 28}, /*seed=*/1);  // the same seed everywhere: the same start
  model.compile(Adam<float>(1e-3));
  FitOptions options;
  options.epochs = 1;
  options.batch_size = 64;
  options.communicator = &world;  // each process trains on its part of every batch
  ModelCheckpoint<float> checkpoint("data_parallel.safetensors", "val_loss");  // rank 0 writes it
  model.fit(data.train.slice(0, 12800), data.validation.slice(0, 2000), options, {&checkpoint});

  const Evaluation test = model.evaluate(data.test);  // every process holds the same weights
  if (world.is_root())
    std::printf("%d process(es): test accuracy %.2f%%\n", world.size(), 100 * test.accuracy);
  return 0;
}
