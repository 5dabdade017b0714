// libFuzzer harness of the safetensors reader: parse the input, then read every tensor it
// accepts in each type tinydl reads as. Anything but a tinydl::Error escaping is a crash; an
// accepted file's tensors must read back with the element count of their header.
#include <tinydl/tinydl.hpp>

#include <vector>

#include "fuzz_support.hpp"

template <typename T>
void read_all(const tinydl::io::SafetensorsFile& file) {
  for (const auto& name : file.names()) {
    try {
      const tinydl::Tensor<T> t = file.read_as<T>(name);
      fuzz::require(t.size() == file.info(name).numel(),
                    "a tensor reads back with its header's element count");
    } catch (const tinydl::Error&) {
    }
  }
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto file =
        tinydl::io::SafetensorsFile::parse(std::vector<char>(data, data + size), "fuzz.safetensors");
    read_all<float>(file);
    read_all<double>(file);
    read_all<std::int64_t>(file);
    read_all<std::int32_t>(file);
  } catch (const tinydl::Error&) {
  }
  return 0;
}
