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

// The layers of ck.model_config (a Functional or Sequential model), in order. A chain (each
// layer reads the one before) up to the class capsules: InputLayer (or a Sequential model's
// batch_input_shape); Conv2D (channels_last, no dilation, ReLU or linear, 'valid' or 'same') each
// with an optional Activation('relu'); the primary capsules (Q7-CapsNets' PrimaryCapsule, or
// CapsNet-Keras's Conv2D + Reshape + squash Lambda); the class capsules (Capsule, CapsuleLayer).
// Then the heads reading them: Length (the scores); CapsNet-Keras's Mask (its label input, if
// any, replaced by the predicted class) and decoder (Dense layers with ReLU, a sigmoid output of
// the image's size, a Reshape to it; nested in a model or not). Other layers after the class
// capsules are left out, said in `assumptions`. ArchError naming the layer, its class and the
// attribute otherwise.
KerasModel keras_model(const Checkpoint& ck);

struct KerasWeights {
  Checkpoint renamed;              // as KerasModel's
  std::vector<std::string> taken;  // "conv1/conv1/kernel:0 -> stem conv 1", ...
};

// A weights-only Keras file (save_weights; CapsNet-Keras's trained_model.h5), whose
// architecture comes from --arch: its weights by their role, from their ranks in file order.
// Conv kernels (rank 4: the stem's, the last the primary capsules'), the class capsules'
// transform (the rank-4 weight that is not a kernel: digitcaps/W), then Dense kernels (rank 2:
// the decoder's, nested or not), each beside its bias. ArchError naming a weight that fits none.
KerasWeights keras_weights_only(const Checkpoint& ck);

}  // namespace conv
}  // namespace capsrt

#endif
