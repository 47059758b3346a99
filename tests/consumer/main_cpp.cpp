// The C++ API from the installed headers alone (capsrt/capsrt.hpp): a program that classifies one
// image, and checks the library is the one its header describes. Usage: capsrt_cpp_consumer MODEL
#include <cstdio>
#include <vector>

#include "capsrt/capsrt.hpp"

alignas(64) static unsigned char g_model[40u << 20];
alignas(64) static unsigned char g_arena[2u << 20];

int main(int argc, char** argv) {
  if (argc != 2 || CAPS_VERSION_CHECK() != CAPS_OK) return 2;
  std::FILE* f = std::fopen(argv[1], "rb");
  if (f == nullptr) return 2;
  const size_t size = std::fread(g_model, 1, sizeof g_model, f);
  std::fclose(f);
  capsrt::Model model;
  capsrt::Interpreter it;
  caps_status s = model.load(g_model, size);
  if (s == CAPS_OK) s = it.init(model, g_arena, sizeof g_arena);
  caps_tensor_view in;
  if (s == CAPS_OK) s = it.tensor_view(CAPS_TENSOR_INPUT, &in);
  if (s != CAPS_OK) {
    std::fprintf(stderr, "%s\n", capsrt::status_message(s));
    return 1;
  }
  std::vector<uint8_t> pixels(model.input_size(), 0);
  for (size_t k = 0; k < pixels.size(); ++k) pixels[k] = static_cast<uint8_t>(k * 7);
  if (it.set_input_u8(pixels.data(), pixels.size()) != CAPS_OK || it.invoke() != CAPS_OK) return 1;
  std::printf("C++ consumer: %s input, predicted %s\n", in.dtype == CAPS_DTYPE_F32 ? "float32" : "int8",
              model.class_name(it.predicted_class()));
  return 0;
}
