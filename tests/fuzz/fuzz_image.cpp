// Fuzz target: capsrun's image loader (stb_image with PNG, JPEG, BMP and PGM/PPM only, and the
// caps checked from the header), as 1 and 3 channels, then the model-input rule to 28x28.
#include "image.hpp"
#include "io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace capsrt::tools;
  for (int channels : {1, 3}) {
    try {
      const Image img = decode_image(data, size, "input", channels);
      bool inverted = false;
      (void)to_model_input(img, channels, 28, 28, Invert::Auto, &inverted);
    } catch (const IoError&) {
    }
  }
  return 0;
}
