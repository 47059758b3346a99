// The kernel table (kernel_set.h) and the one-time choice of a set. Compiled with the build's
// baseline flags: it only takes the addresses of the ISA files' functions, and calls none of
// them. CAPSRT_HAVE_X86_KERNELS, CAPSRT_HAVE_NEON64_KERNELS and CAPSRT_HAVE_NEON_ARMV7_KERNELS
// come from CMake and say which ISA folders this build compiled.
#include <atomic>

#include "arm_dsp/dsp.h"
#include "arm_mve/mve.h"
#include "arm_neon/neon.h"
#include "kernel_set.h"
#include "reference.h"
#include "simd/blocking.h"
#include "simd/em_caps_scratch.h"
#include "x86_avx2/avx2.h"
#include "x86_avx512/avx512.h"
#include "x86_avx512_vnni/avx512_vnni.h"

#if CAPSRT_HAVE_X86_KERNELS
#define CAPSRT_X86(fn) fn
#else
#define CAPSRT_X86(fn) nullptr
#endif
#if CAPSRT_HAVE_NEON64_KERNELS
#define CAPSRT_NEON64(fn) fn
#else
#define CAPSRT_NEON64(fn) nullptr
#endif
// The NEON int8 convolution: sdot in a build for armv8.2-a+dotprod, else widening multiplies.
#if CAPSRT_HAVE_NEON_DOTPROD
#define CAPSRT_NEON_CONV_Q neon::conv2d_q_dot
#else
#define CAPSRT_NEON_CONV_Q neon::conv2d_q
#endif
#if CAPSRT_HAVE_NEON_ARMV7_KERNELS
#define CAPSRT_NEON_ARMV7(fn) fn
#else
#define CAPSRT_NEON_ARMV7(fn) nullptr
#endif

#if CAPSRT_HAVE_ARMV7EM_DSP_KERNELS
#define CAPSRT_DSP(fn) fn
#else
#define CAPSRT_DSP(fn) nullptr
#endif

#if CAPSRT_HAVE_MVE_KERNELS
#define CAPSRT_MVE(fn) fn
#else
#define CAPSRT_MVE(fn) nullptr
#endif

// The float kernels, or NULL in an int8-only build (CAPSRT_FLOAT=0: nothing then references
// them, and a program links no floating-point routine).
#if CAPSRT_FLOAT
#define CAPSRT_F(fn) fn
#else
#define CAPSRT_F(fn) nullptr
#endif

namespace capsrt {
namespace kernels {
namespace {

#if CAPSRT_FLOAT
void reference_conv(const Conv2DParams& p, const float* in, const float* w, const float* b,
                    float* out, void*) {
  ref::conv2d_f32(p, in, w, b, out);
}
#endif
uint64_t no_scratch(const Conv2DParams&) { return 0; }


// The conv scratch of a SIMD set, from its register tiling (the ISA header's kConvTiling).
template <int MR, int NR>
uint64_t conv_scratch(const Conv2DParams& p) {
  return simd::conv2d_f32_ihwo_scratch_size(p, simd::ConvTiling{MR, NR});
}

constexpr uint32_t bit(caps_layout l) { return 1u << l; }
constexpr uint32_t kRefConvLayouts = bit(CAPS_LAYOUT_ROW_MAJOR) | bit(CAPS_LAYOUT_CONV_IHWO);
constexpr uint32_t kRefCapsLayouts = bit(CAPS_LAYOUT_ROW_MAJOR) | bit(CAPS_LAYOUT_CAPS_JDKI);
constexpr uint32_t kSimdConvLayouts = bit(CAPS_LAYOUT_CONV_IHWO);
constexpr uint32_t kSimdCapsLayouts = bit(CAPS_LAYOUT_CAPS_JDKI);

// The int8 kernels of a set: its convolution, primary squash, CapsDense and dense (`conv_q`,
// `squash_q`, `caps_q`, `dense_q`, with the scratch functions), the reference ones for length and
// mask (a few dozen values).
#define CAPSRT_Q_KERNELS(conv_q_scratch, conv_q, squash_q, caps_q_scratch, caps_q, dense_q, IF) \
  conv_q_scratch, caps_q_scratch, IF(conv_q), IF(squash_q), IF(caps_q),                         \
      IF(ref::length_q), IF(ref::mask_q), IF(dense_q)

// The EM kernels of a set: the reference ones, or (SIMD sets) those of namespace `ns`
// (kernels/simd/em_caps_f32.hpp) with their scratch.
#define CAPSRT_EM_KERNELS(IF)                                                            \
  ref::em_conv_caps_f32_scratch_size, ref::em_class_caps_f32_scratch_size,               \
      CAPSRT_F(IF(ref::em_primary_caps_f32)), CAPSRT_F(IF(ref::em_conv_caps_f32)),       \
      CAPSRT_F(IF(ref::em_class_caps_f32))
#define CAPSRT_EM_SIMD_KERNELS(ns, IF)                                                   \
  simd::em_conv_caps_f32_scratch_size, simd::em_class_caps_f32_scratch_size,             \
      CAPSRT_F(IF(ns::em_primary_caps_f32)), CAPSRT_F(IF(ns::em_conv_caps_f32)),         \
      CAPSRT_F(IF(ns::em_class_caps_f32))

// A SIMD set: the kernels of namespace `ns` (kernels/simd/isa_kernels.inc), its conv scratch
// function, and IF(fn), which is fn when this build compiled the ISA's folder, else NULL. Group,
// softmax and mask are data movement or tiny: every set uses the reference ones.
#define CAPSRT_SIMD_SET(id, name, ns, conv_scratch, IF, conv_q_scratch, conv_q, squash_q, caps_q_scratch, caps_q, \
                        dense_q)                                                                \
  {                                                                                            \
    id, name, kSimdConvLayouts, kSimdCapsLayouts, conv_scratch, simd::caps_dense_f32_scratch_size, \
        CAPSRT_F(IF(ns::conv2d_f32)), CAPSRT_F(IF(ns::squash_f32)),                             \
        CAPSRT_F(IF(ref::group_capsules_f32)), CAPSRT_F(IF(ns::caps_dense_f32)),                \
        CAPSRT_F(IF(ns::vector_length_f32)), CAPSRT_F(IF(ref::softmax_f32)),                    \
        CAPSRT_F(IF(ref::mask_f32)), CAPSRT_F(IF(ns::dense_f32)),                               \
        CAPSRT_Q_KERNELS(conv_q_scratch, conv_q, squash_q, caps_q_scratch, caps_q, dense_q, IF), \
        CAPSRT_EM_SIMD_KERNELS(ns, IF)                                                          \
  }
#define CAPSRT_ALWAYS(fn) fn

// A Cortex-M set: the reference float kernels (and their layouts) for its FPU, its own int8
// convolution and CapsDense; IF(fn) is fn when this build compiled the set's folder, else NULL.
#define CAPSRT_MCU_SET(id, name, IF, conv_q_scratch, conv_q, caps_q_scratch, caps_q)             \
  {                                                                                            \
    id, name, kRefConvLayouts, kRefCapsLayouts, no_scratch, ref::caps_dense_f32_scratch_size,      \
        CAPSRT_F(IF(reference_conv)), CAPSRT_F(IF(ref::squash_f32)), CAPSRT_F(IF(ref::group_capsules_f32)), \
        CAPSRT_F(IF(ref::caps_dense_f32)), CAPSRT_F(IF(ref::vector_length_f32)),                 \
        CAPSRT_F(IF(ref::softmax_f32)), CAPSRT_F(IF(ref::mask_f32)), CAPSRT_F(IF(ref::dense_f32)), \
        CAPSRT_Q_KERNELS(conv_q_scratch, conv_q, ref::primary_squash_q, caps_q_scratch, caps_q, ref::dense_q, IF), \
        CAPSRT_EM_KERNELS(IF)                                                                   \
  }

// Indexed by CAPS_KERNELS_* id - 1.
const KernelSet kSets[] = {
    {CAPS_KERNELS_REFERENCE, "reference", kRefConvLayouts, kRefCapsLayouts, no_scratch,
     ref::caps_dense_f32_scratch_size, CAPSRT_F(reference_conv), CAPSRT_F(ref::squash_f32),
     CAPSRT_F(ref::group_capsules_f32), CAPSRT_F(ref::caps_dense_f32), CAPSRT_F(ref::vector_length_f32),
     CAPSRT_F(ref::softmax_f32), CAPSRT_F(ref::mask_f32), CAPSRT_F(ref::dense_f32),
     CAPSRT_Q_KERNELS(ref::conv2d_q_scratch_size, ref::conv2d_q, ref::primary_squash_q,
                      ref::caps_dense_q_scratch_size, ref::caps_dense_q, ref::dense_q, CAPSRT_ALWAYS),
     CAPSRT_EM_KERNELS(CAPSRT_ALWAYS)},
    CAPSRT_SIMD_SET(CAPS_KERNELS_AVX2_FMA, "avx2-fma", avx2,
                    (conv_scratch<avx2::kConvTiling.mr, avx2::kConvTiling.nr>), CAPSRT_X86,
                    avx2::conv2d_q_scratch_size, avx2::conv2d_q, avx2::primary_squash_q,
                    avx2::caps_dense_q_scratch_size, avx2::caps_dense_q, avx2::dense_q),
    CAPSRT_SIMD_SET(CAPS_KERNELS_AVX512, "avx512", avx512,
                    avx512::conv2d_f32_scratch_size, CAPSRT_X86,
                    avx2::conv2d_q_scratch_size, avx2::conv2d_q, avx2::primary_squash_q,
                    avx2::caps_dense_q_scratch_size, avx2::caps_dense_q, avx2::dense_q),
    CAPSRT_SIMD_SET(CAPS_KERNELS_NEON64, "neon64", neon,
                    (conv_scratch<neon::kConvTilingNeon64.mr, neon::kConvTilingNeon64.nr>), CAPSRT_NEON64,
                    neon::conv2d_q_scratch_size, CAPSRT_NEON_CONV_Q, ref::primary_squash_q, neon::caps_dense_q_scratch_size,
                    neon::caps_dense_q, ref::dense_q),
    CAPSRT_SIMD_SET(CAPS_KERNELS_NEON_ARMV7, "neon-armv7", neon,
                    (conv_scratch<neon::kConvTilingArmv7.mr, neon::kConvTilingArmv7.nr>), CAPSRT_NEON_ARMV7,
                    neon::conv2d_q_scratch_size, neon::conv2d_q, ref::primary_squash_q, neon::caps_dense_q_scratch_size,
                    neon::caps_dense_q, ref::dense_q),
    CAPSRT_SIMD_SET(CAPS_KERNELS_AVX512_VNNI, "avx512-vnni", avx512,
                    avx512::conv2d_f32_scratch_size, CAPSRT_X86,
                    avx512_vnni::conv2d_q_scratch_size, avx512_vnni::conv2d_q, avx512_vnni::primary_squash_q,
                    avx512_vnni::caps_dense_q_scratch_size, avx512_vnni::caps_dense_q, avx512_vnni::dense_q),
    // The DSP extension's SMLAD int8 kernels; the FPU runs the reference float kernels.
    CAPSRT_MCU_SET(CAPS_KERNELS_ARMV7EM_DSP, "armv7em-dsp", CAPSRT_DSP, dsp::conv2d_q_scratch_size,
                   dsp::conv2d_q, dsp::caps_dense_q_scratch_size, dsp::caps_dense_q),
    // Helium's int8 convolution and CapsDense.
    CAPSRT_MCU_SET(CAPS_KERNELS_MVE, "mve", CAPSRT_MVE, mve::conv2d_q_scratch_size, mve::conv2d_q,
                   mve::caps_dense_q_scratch_size, mve::caps_dense_q),
};
static_assert(sizeof(kSets) / sizeof(kSets[0]) == CAPS_KERNELS_COUNT - 1, "one entry per id");

// What this CPU supports, asked once. GCC's and clang's __builtin_cpu_supports read CPUID and
// check that the OS saves the wide registers (XGETBV), as AVX and AVX-512 code needs.
bool cpu_supports(uint32_t id) {
  switch (id) {
    case CAPS_KERNELS_REFERENCE: return true;
#if CAPSRT_HAVE_X86_KERNELS
    case CAPS_KERNELS_AVX2_FMA:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CAPS_KERNELS_AVX512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("fma");
    case CAPS_KERNELS_AVX512_VNNI:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512vnni") &&
             __builtin_cpu_supports("fma");
#endif
#if CAPSRT_HAVE_NEON64_KERNELS
    case CAPS_KERNELS_NEON64: return true;  // NEON is part of every aarch64 core
#endif
#if CAPSRT_HAVE_NEON_ARMV7_KERNELS
    case CAPS_KERNELS_NEON_ARMV7: return true;  // built for NEON: the build's own requirement
#endif
#if CAPSRT_HAVE_ARMV7EM_DSP_KERNELS
    case CAPS_KERNELS_ARMV7EM_DSP: return true;  // built for a core with the DSP extension
#endif
#if CAPSRT_HAVE_MVE_KERNELS
    case CAPS_KERNELS_MVE: return true;  // built for a core with Helium
#endif
    default: return false;
  }
}

// 0 until first asked; then the id of the set AUTO resolves to. Racing first calls compute the
// same value.
std::atomic<uint32_t> g_default{0};

uint32_t detect_best() {
  const uint32_t order[] = {CAPS_KERNELS_AVX512_VNNI, CAPS_KERNELS_AVX512, CAPS_KERNELS_AVX2_FMA,
                            CAPS_KERNELS_NEON64, CAPS_KERNELS_NEON_ARMV7, CAPS_KERNELS_MVE,
                            CAPS_KERNELS_ARMV7EM_DSP};
  for (uint32_t id : order)
    if (kernel_set_runnable(id)) return id;
  return CAPS_KERNELS_REFERENCE;
}

}  // namespace

const KernelSet* kernel_set(uint32_t id) {
  if (id < CAPS_KERNELS_REFERENCE || id >= CAPS_KERNELS_COUNT) return nullptr;
  return &kSets[id - 1];
}

bool kernel_set_runnable(uint32_t id) {
  const KernelSet* ks = kernel_set(id);
  // The int8 convolution is in every build that has the set's code (float or not).
  return ks != nullptr && ks->conv2d_q != nullptr && cpu_supports(id);
}

uint32_t kernel_set_default() {
  uint32_t id = g_default.load(std::memory_order_relaxed);
  if (id == 0) {
    id = detect_best();
    g_default.store(id, std::memory_order_relaxed);
  }
  return id;
}


const KernelSet& conv_kernels(const KernelSet& ks, caps_layout weight_layout) {
  return (ks.conv_layouts >> weight_layout) & 1u ? ks : kSets[0];
}

const KernelSet& caps_kernels(const KernelSet& ks, caps_layout weight_layout) {
  return (ks.caps_layouts >> weight_layout) & 1u ? ks : kSets[0];
}

}  // namespace kernels
}  // namespace capsrt
