// The kernel table: one KernelSet per instruction set. The runtime calls kernels only through it
// (runtime/src has no ISA code): each op record's prepare takes its kernel pointers from the set
// an interpreter was set up with. x86 builds have AVX-512 VNNI, AVX-512, AVX2+FMA and the
// reference, the best of which the CPU runs is found once (cached); ARM builds have NEON, and
// Cortex-M builds for a core with the DSP extension armv7em-dsp, chosen at compile time; every
// other target runs the reference kernels.
//
// A set also says how much scratch each of its kernels needs (the *_scratch_size twins, as
// CMSIS-NN's _get_buffer_size). Those functions are plain arithmetic and exist in every build for
// every set, so a tool on x86 can size the arena a NEON board needs.
#ifndef CAPSRT_KERNELS_KERNEL_SET_H
#define CAPSRT_KERNELS_KERNEL_SET_H

#include <cstddef>
#include <cstdint>

#include "capsrt/capsrt.h"
#include "kernel_params.h"

namespace capsrt {
namespace kernels {

using Conv2DFn = void (*)(const Conv2DParams& p, const float* in, const float* weights,
                          const float* bias, float* out, void* scratch);
using SquashFn = void (*)(const SquashParams& p, const float* in, float* out, int count, int dim);
using GroupFn = void (*)(const GroupingParams& p, const float* conv_out, float* capsules);
using CapsDenseFn = void (*)(const CapsDenseParams& p, const float* u, const float* weights,
                             float* v, void* scratch);
using LengthFn = void (*)(const float* v, float* out, int count, int dim, float eps);
using SoftmaxFn = void (*)(const float* in, float* out, int count, int stride);
using MaskFn = void (*)(const float* v, float* out, int count, int dim, int keep);
using DenseFn = void (*)(const DenseParams& p, const float* in, const float* weights,
                         const float* bias, float* out);
// Matrix capsules with EM routing (reference.h documents each).
using EmPrimaryCapsFn = void (*)(const EmPrimaryCapsParams& p, const float* in, const float* weights,
                                 const float* bias, float* out);
using EmConvCapsFn = void (*)(const EmConvCapsParams& p, const float* in, const float* weights,
                              const float* beta_u, const float* beta_a, float* out, void* scratch);
using EmClassCapsFn = void (*)(const EmClassCapsParams& p, const float* in, const float* weights,
                               const float* beta_u, const float* beta_a, float* activations, float* poses,
                               void* scratch);
// The int8 path (docs/fixed-point.md; reference.h documents each).
using Conv2DQFn = void (*)(const Conv2DQParams& p, const int8_t* in, const int8_t* weights,
                           const int32_t* bias, const int32_t* requant, void* out, void* scratch);
using PrimarySquashQFn = void (*)(const PrimarySquashQParams& p, const int16_t* conv_out,
                                  int8_t* capsules);
using CapsDenseQFn = void (*)(const CapsDenseQParams& p, const int8_t* u, const int8_t* weights,
                              const int32_t* requant, int16_t* v, void* scratch);
using LengthQFn = void (*)(const int16_t* v, int32_t* out, int count, int dim, uint32_t eps_q30,
                           bool softmax);
using MaskQFn = void (*)(const int16_t* v, int8_t* out, int count, int dim, int keep);
using DenseQFn = void (*)(const DenseQParams& p, const int8_t* in, const int8_t* weights,
                          const int32_t* bias, const int32_t* requant, int8_t* out);

struct KernelSet {
  uint32_t id;       // CAPS_KERNELS_*
  const char* name;  // "reference", "avx2-fma", "avx512", "neon64", "neon-armv7", "avx512-vnni", "armv7em-dsp"
  // Weight layouts (bit 1 << caps_layout) this set's conv and CapsDense kernels read. An op whose
  // weights are in another layout (files written before version 1.1) runs the reference kernel.
  uint32_t conv_layouts;
  uint32_t caps_layouts;
  // Scratch bytes, for the layouts above. Present in every build.
  uint64_t (*conv2d_f32_scratch_size)(const Conv2DParams& p);
  uint64_t (*caps_dense_f32_scratch_size)(const CapsDenseParams& p);
  // The kernels: all NULL when this build has no code for the set.
  Conv2DFn conv2d_f32;
  SquashFn squash_f32;
  GroupFn group_capsules_f32;
  CapsDenseFn caps_dense_f32;
  LengthFn vector_length_f32;
  SoftmaxFn softmax_f32;
  MaskFn mask_f32;
  DenseFn dense_f32;
  // The int8 path: its scratch sizes (every build), then its kernels (NULL when the build has no
  // code for the set). Int8 conv and dense weights are K4O in every set.
  uint64_t (*conv2d_q_scratch_size)(const Conv2DQParams& p);
  uint64_t (*caps_dense_q_scratch_size)(const CapsDenseQParams& p);
  Conv2DQFn conv2d_q;
  PrimarySquashQFn primary_squash_q;
  CapsDenseQFn caps_dense_q;
  LengthQFn length_q;
  MaskQFn mask_q;
  DenseQFn dense_q;
  // Matrix capsules with EM routing, float only: the scratch sizes (every build), then the
  // kernels (NULL when the build has no code for the set).
  uint64_t (*em_conv_caps_f32_scratch_size)(const EmConvCapsParams& p);
  uint64_t (*em_class_caps_f32_scratch_size)(const EmClassCapsParams& p);
  EmPrimaryCapsFn em_primary_caps_f32;
  EmConvCapsFn em_conv_caps_f32;
  EmClassCapsFn em_class_caps_f32;
};

// The set with this CAPS_KERNELS_* id (AUTO excluded), or NULL for an unknown id. Its kernels are
// NULL when this build has no code for it.
const KernelSet* kernel_set(uint32_t id);
// True when the set's kernels are in this build and this CPU can run them.
bool kernel_set_runnable(uint32_t id);
// The best runnable set on this CPU (detected once and cached: the library's only process-wide
// state, and it never changes once found).
uint32_t kernel_set_default();

// Which set's kernel an op actually runs: `ks` when it reads the op's weight layout, else the
// reference set.
const KernelSet& conv_kernels(const KernelSet& ks, caps_layout weight_layout);
const KernelSet& caps_kernels(const KernelSet& ks, caps_layout weight_layout);

}  // namespace kernels
}  // namespace capsrt

#endif
