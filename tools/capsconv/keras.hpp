// Full Keras models (model.save .h5, read by readers/keras_h5.cpp): the architecture from the
// model's layers (its model_config JSON), and its weights named by their role for the Keras
// layout table (layouts.cpp). docs/capsconv.md lists the layers and what each conversion assumes.
#ifndef CAPSRT_CAPSCONV_KERAS_HPP
#define CAPSRT_CAPSCONV_KERAS_HPP

#include <string>
#include <vector>

#include "convert.hpp"

namespace capsrt {
namespace conv {

struct KerasModel {
  Architecture arch;
  Checkpoint renamed;                    // the weights as keras.conv<n>.kernel, keras.caps.W, ...
  std::vector<std::string> assumptions;  // what the file does not say, as taken
};

// Is this a full Keras model (a Keras HDF5 file with model_config)?
bool is_keras_model(const Checkpoint& ck);

// The layers of ck.model_config, in order (a chain: each layer's input is the layer before it):
// InputLayer; Conv2D (channels_last, no dilation, ReLU or linear, 'valid' or 'same') each with
// an optional Activation('relu'); the primary capsules (Q7-CapsNets' PrimaryCapsule, or
// CapsNet-Keras's Conv2D + Reshape + squash Lambda); the class capsules (Capsule, CapsuleLayer);
// Length. ArchError naming the layer, its class and the attribute otherwise.
KerasModel keras_model(const Checkpoint& ck);

}  // namespace conv
}  // namespace capsrt

#endif
