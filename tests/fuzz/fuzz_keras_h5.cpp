// Fuzz target: the Keras HDF5 reader (readers/keras_h5.cpp, libhdf5 from memory) and, for a file
// it reads, the Keras conversion of its model_config and weights (or, for weights only, their
// roles): a refused file must be a CheckpointError or ArchError, a converted one must load and run.
#include <memory>
#include <vector>

#include "capsrt/capsrt.hpp"
#include "checkpoint.hpp"
#include "convert.hpp"
#include "fuzz_common.hpp"
#include "keras.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace capsrt::conv;
  auto bytes = std::make_shared<const std::vector<uint8_t>>(data, data + size);
  Conversion c;
  try {
    const Checkpoint ck = read_keras_h5(bytes);
    for (const RawTensor& t : ck.tensors) (void)to_float32(t);
    if (!is_keras_model(ck)) {  // weights only: their roles (the architecture would come from --arch)
      (void)keras_weights_only(ck);
      return 0;
    }
    const KerasModel km = keras_model(ck);
    c = convert(km.renamed, km.arch, Layout::Keras, 0);
  } catch (const CheckpointError&) {
    return 0;
  } catch (const ArchError&) {
    return 0;
  }
  fuzzcommon::Aligned buf(c.model.data(), c.model.size());
  capsrt::Model m;
  fuzzcommon::check(m.load(buf.data(), c.model.size()) == CAPS_OK, "a converted Keras model does not load");
  fuzzcommon::run_model(m, data, size, 2000000);
  return 0;
}
