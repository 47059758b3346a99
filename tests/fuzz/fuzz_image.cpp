// Fuzz target: capsrun's image loader (stb_image with PNG, JPEG, BMP and PGM/PPM only, and the
// caps checked from the header), as 1 and 3 channels, then the model-input rules to 28x28: none
// for both, and the object rules (mnist, fashion-mnist) for the 1-channel image.
#include "image.hpp"
#include "preprocess.hpp"
#include "io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace capsrt::tools;
  for (int channels : {1, 3}) {
    try {
      const Image img = decode_image(data, size, "input", channels);
      bool inverted = false;
      (void)to_model_input(img, channels, 28, 28, Invert::Auto, &inverted);
      if (channels == 1)
        for (caps_input_preprocess rule : {CAPS_PREPROCESS_MNIST, CAPS_PREPROCESS_FASHION_MNIST})
          (void)preprocess_image(img, rule, 1, 28, 28, Invert::Auto);
    } catch (const IoError&) {
    }
  }
  return 0;
}
