/* capsrt C API: load a model from bytes, run it on a caller-provided arena, read the outputs.
 *
 * Nothing here allocates. The caller owns the model bytes (they must outlive the model and the
 * interpreters made from it, and must not change), the caps_model / caps_interpreter structs, and
 * the arena. The model bytes must be 16-byte aligned; so must the arena. A caps_model may be
 * shared by several interpreters (one per thread); a caps_interpreter is not thread-safe. */
#ifndef CAPSRT_CAPSRT_H
#define CAPSRT_CAPSRT_H

#include <stddef.h>
#include <stdint.h>

#include "capsrt/format.h"

#ifdef __cplusplus
extern "C" {
#endif

/* This header's version of the library (the CMake package's version too: find_package(capsrt
 * 0.2)). A program checks at start that the library it linked is the one its header describes:
 * CAPS_VERSION_CHECK() answers CAPS_ERR_VERSION_MISMATCH when the major version or the
 * opaque structs' sizes differ. */
#define CAPSRT_VERSION_MAJOR 0
#define CAPSRT_VERSION_MINOR 3
#define CAPSRT_VERSION_PATCH 0
#define CAPSRT_VERSION (CAPSRT_VERSION_MAJOR * 10000 + CAPSRT_VERSION_MINOR * 100 + CAPSRT_VERSION_PATCH)

/* Every type that crosses this API has a fixed width: status codes are int32_t, kernel ids and
 * flags uint32_t. No enum type appears in a signature or a struct, because an enum's size and
 * signedness depend on the ABI (arm-none-eabi uses short enums: 1 byte, unsigned). The codes
 * below are plain int constants. */
typedef int32_t caps_status;
enum {
  CAPS_OK = 0,
  CAPS_ERR_NULL_ARGUMENT,       /* a required pointer was NULL */
  CAPS_ERR_TRUNCATED,           /* buffer shorter than the header or than header.total_size */
  CAPS_ERR_BAD_MAGIC,           /* not a capsrt model */
  CAPS_ERR_UNSUPPORTED_VERSION, /* format version this runtime does not read */
  CAPS_ERR_CHECKSUM,            /* CRC-32 mismatch: the file is damaged */
  CAPS_ERR_BAD_HEADER,          /* header fields inconsistent (sizes, flags, reserved) */
  CAPS_ERR_OUT_OF_BOUNDS,       /* a section, tensor or string lies past its container */
  CAPS_ERR_MISALIGNED,          /* a buffer, section, tensor or arena offset is not aligned */
  CAPS_ERR_BAD_TENSOR,          /* bad dtype, rank, dims, kind, layout, length or quantisation */
  CAPS_ERR_BAD_OP,              /* unknown opcode, wrong arity, bad tensor ids, bad params */
  CAPS_ERR_SHAPE_MISMATCH,      /* a tensor's shape does not fit the op that reads or writes it */
  CAPS_ERR_BAD_GRAPH,           /* produced twice, used before produced, outputs missing */
  CAPS_ERR_BAD_ATTRIBUTE,       /* a model attribute is out of range */
  CAPS_ERR_BAD_STRING,          /* a name is unterminated, too long or not printable */
  CAPS_ERR_BAD_ARENA_PLAN,      /* planned buffers leave the arena or overlap while both live */
  CAPS_ERR_ARENA_TOO_SMALL,     /* caller's arena is smaller than caps_model_arena_size() */
  CAPS_ERR_UNSUPPORTED,         /* valid file, but an op/dtype this build cannot run */
  CAPS_ERR_BAD_ARGUMENT,        /* argument out of range (class index, input length) */
  CAPS_ERR_NOT_READY,           /* model not loaded, interpreter not set up, no input, or not invoked */
  CAPS_ERR_ABORTED,             /* the interpreter's observer stopped the run */
  CAPS_ERR_VERSION_MISMATCH,    /* the header a program was built with is not this library's */
  CAPS_ERR_DTYPE,               /* the tensor holds another dtype (an int8 model's are integers) */
  CAPS_STATUS_COUNT
};

/* A short static English message for each status; never NULL. */
const char* caps_status_message(caps_status status);

/* Opaque, caller-allocated storage (statics, stack or struct members). */
typedef struct caps_model { uint64_t opaque[40]; } caps_model;
typedef struct caps_interpreter { uint64_t opaque[16]; } caps_interpreter;

/* The library's version, the model-format versions it reads (format_major.0 to
 * format_major.format_minor_max), and the sizes of caps_model and caps_interpreter it was built
 * with. Static; never NULL. */
typedef struct caps_version_info {
  uint32_t major, minor, patch;
  uint32_t format_major, format_minor_max;
  uint32_t model_struct_size, interpreter_struct_size;
  const char* text; /* "0.3.0" */
} caps_version_info;
const caps_version_info* caps_version(void);
/* CAPS_OK when the library is the version `header_version` (CAPSRT_VERSION) names, as far as
 * binary compatibility goes (same major version, the same struct sizes); else
 * CAPS_ERR_VERSION_MISMATCH. Call it through CAPS_VERSION_CHECK(). */
caps_status caps_version_check(uint32_t header_version, size_t model_struct_size,
                               size_t interpreter_struct_size);
#define CAPS_VERSION_CHECK() \
  caps_version_check(CAPSRT_VERSION, sizeof(caps_model), sizeof(caps_interpreter))

/* Flags for caps_model_load. */
#define CAPS_LOAD_SKIP_CHECKSUM 1u /* for images already verified (e.g. when flashed) */

/* Validates every field of the model once and makes `model` a view over `data` (no copy). */
caps_status caps_model_load(caps_model* model, const void* data, size_t size, uint32_t flags);
/* Arena bytes an interpreter needs for this model with any kernel set this build can run (the
 * largest of caps_model_arena_size_for over them); 0 if the model is not loaded. */
size_t caps_model_arena_size(const caps_model* model);
/* The model's attributes (input geometry, classes, variant settings); NULL if not loaded. */
const caps_model_attributes* caps_model_attributes_get(const caps_model* model);
/* Name of class `index`, NUL-terminated, inside the model bytes; NULL if out of range. */
const char* caps_model_class_name(const caps_model* model, uint32_t index);

/* Sets up an interpreter on `arena` (16-byte aligned, at least caps_model_arena_size bytes) with
 * the kernel set CAPS_KERNELS_AUTO picks. Prepares every op once: kernels, parameters, buffers. */
caps_status caps_interpreter_init(caps_interpreter* it, const caps_model* model, void* arena,
                                  size_t arena_size);

/* Kernel sets: the code that runs the ops. One model file runs on every set. */
#define CAPS_KERNELS_AUTO 0u       /* the set caps_kernels_default() names */
#define CAPS_KERNELS_REFERENCE 1u  /* plain C++, the specification: every target */
#define CAPS_KERNELS_AVX2_FMA 2u   /* x86 with AVX2 and FMA */
#define CAPS_KERNELS_AVX512 3u     /* x86 with AVX-512F */
#define CAPS_KERNELS_NEON64 4u     /* aarch64 */
#define CAPS_KERNELS_NEON_ARMV7 5u /* armv7 built with NEON */
#define CAPS_KERNELS_AVX512_VNNI 6u /* x86 with AVX-512 F/BW/DQ/VL and VNNI: the avx512 set's float
                                       kernels, vpdpbusd int8 kernels */
#define CAPS_KERNELS_ARMV7EM_DSP 7u /* Cortex-M with the DSP extension (M4, M7, M33, M55): SMLAD int8
                                       kernels, the reference float ones */
#define CAPS_KERNELS_MVE 8u         /* Cortex-M with Helium (M55, M85): the MVE int8 convolution, the
                                       armv7em-dsp CapsDense, the reference float kernels */
#define CAPS_KERNELS_COUNT 9u

/* "auto", "reference", "avx2-fma", "avx512", "neon64", "neon-armv7", "avx512-vnni",
 * "armv7em-dsp", "mve"; NULL for an
 * unknown id. */
const char* caps_kernels_name(uint32_t kernels);
/* The id of a name above, or CAPS_KERNELS_COUNT if there is none. */
uint32_t caps_kernels_from_name(const char* name);
/* 1 if this build has the set's code and this CPU runs it (x86: detected once), else 0. */
int caps_kernels_available(uint32_t kernels);
/* The set CAPS_KERNELS_AUTO uses: the best available one (AVX-512 VNNI, AVX-512, AVX2+FMA, NEON,
 * reference), found from the CPU once. There is no process-wide override: a program that forces
 * a set names it to each interpreter (caps_interpreter_init_kernels). */
uint32_t caps_kernels_default(void);

/* As caps_interpreter_init, with the kernel set named (CAPS_KERNELS_*); CAPS_ERR_UNSUPPORTED if
 * it is not available here. The arena must hold caps_model_arena_size_for(model, kernels). */
caps_status caps_interpreter_init_kernels(caps_interpreter* it, const caps_model* model,
                                          void* arena, size_t arena_size, uint32_t kernels);
/* The id of the set an interpreter runs (never AUTO); 0 before a successful init. */
uint32_t caps_interpreter_kernels(const caps_interpreter* it);
/* Arena bytes an interpreter with this kernel set needs (any set, also one this build cannot
 * run); 0 if the model is not loaded or the id is unknown. */
size_t caps_model_arena_size_for(const caps_model* model, uint32_t kernels);
/* Copies `count` floats (input_channels*height*width, CHW order, already normalised). */
caps_status caps_set_input_f32(caps_interpreter* it, const float* data, size_t count);
/* Copies `count` 8-bit pixels (CHW order) and applies the model's normalisation. */
caps_status caps_set_input_u8(caps_interpreter* it, const uint8_t* pixels, size_t count);
/* Runs the classifier part of the network (not the decoder). CAPS_ERR_NOT_READY when no input was
 * set since caps_interpreter_init*. */
caps_status caps_invoke(caps_interpreter* it);
/* Index of the highest score after caps_invoke, for either kind of model. */
caps_status caps_get_predicted_class(const caps_interpreter* it, uint32_t* class_index);
/* Runs the decoder with the poses masked to class `class_index` (-1: the predicted class); its
 * image is then the CAPS_TENSOR_RECONSTRUCTION view. CAPS_ERR_UNSUPPORTED if the model has no
 * decoder, CAPS_ERR_NOT_READY before caps_invoke. */
caps_status caps_reconstruct(caps_interpreter* it, int32_t class_index);
/* Runs the decoder on `pose` in place of class `class_index`'s capsule (the paper's figure of
 * perturbed capsule dimensions). `pose` holds `count` values of the CAPS_TENSOR_POSES view's
 * dtype and row length: float32, or int16 in Q15 for an int8 model (CAPS_ERR_BAD_ARGUMENT for
 * another count). Scores and poses stay as caps_invoke left them. */
caps_status caps_reconstruct_pose(caps_interpreter* it, uint32_t class_index, const void* pose,
                                  size_t count);

/* --- tensor views (docs/integration.md) --------------------------------------------------------
 * The input and the outputs, for either kind of model: dtype, shape, quantisation and where the
 * values lie in the arena. The input's view is writable: fill it in place, then caps_invoke
 * (getting it counts as setting the input). Scores and poses are valid after caps_invoke, the
 * reconstruction after caps_reconstruct*, each until the next input or invoke. The pointer stays
 * valid while the interpreter is set up on the same arena. */
#define CAPS_TENSOR_INPUT 0u          /* [C,H,W]: float32, or int8 (pixel - 128 for pixels) */
#define CAPS_TENSOR_SCORES 1u         /* [classes]: float32, or int32 in Q15 */
#define CAPS_TENSOR_POSES 2u          /* [classes, pose size]: float32, or int16 in Q15 */
#define CAPS_TENSOR_RECONSTRUCTION 3u /* [C*H*W]: float32 0..1, or int8 pixel - 128 */
typedef struct caps_tensor_view {
  uint32_t dtype;     /* CAPS_DTYPE_F32, CAPS_DTYPE_I8, CAPS_DTYPE_I16 or CAPS_DTYPE_I32 */
  uint32_t rank;      /* 1 to 4 */
  uint32_t dims[4];   /* dims[0 .. rank-1]; the others 0 */
  uint32_t count;     /* elements: the product of the dims */
  int32_t zero_point; /* an integer tensor's value is scale * (q - zero_point); 0 for float32 */
  float scale;        /* 1 for float32 */
  void* data;         /* the first element, in the arena */
} caps_tensor_view;
/* CAPS_ERR_BAD_ARGUMENT for an unknown `which`, CAPS_ERR_UNSUPPORTED for the reconstruction of
 * a model without a decoder, CAPS_ERR_NOT_READY for an output not computed yet. */
caps_status caps_get_tensor(caps_interpreter* it, uint32_t which, caps_tensor_view* view);
/* Element k of a view as a real number: the float itself, or scale * (q - zero_point). */
static inline float caps_tensor_value(const caps_tensor_view* v, uint32_t k) {
  switch (v->dtype) {
    case CAPS_DTYPE_F32: return ((const float*)v->data)[k];
    case CAPS_DTYPE_I8: return v->scale * (float)((int32_t)((const int8_t*)v->data)[k] - v->zero_point);
    case CAPS_DTYPE_I16: return v->scale * (float)((int32_t)((const int16_t*)v->data)[k] - v->zero_point);
    default: return v->scale * (float)(((const int32_t*)v->data)[k] - v->zero_point);
  }
}
/* Copies `count` int8 values into an int8 model's input as they are (already quantised with the
 * input view's scale and zero point); CAPS_ERR_DTYPE for a float model. */
caps_status caps_set_input_s8(caps_interpreter* it, const int8_t* data, size_t count);

/* --- observing the ops (docs/integration.md) ------------------------------------------------
 * An optional callback an interpreter calls before and after each op it runs (invoke: the
 * classifier ops; the reconstruct functions: the decoder's), for profiling, a watchdog or a
 * cycle counter. Returning non-zero stops the run: the call that ran it answers
 * CAPS_ERR_ABORTED, and the outputs are not valid until the next invoke. Unset, it costs one
 * test of a pointer per op. */
#define CAPS_OP_BEGIN 0u
#define CAPS_OP_END 1u
typedef struct caps_op_event {
  uint32_t phase;          /* CAPS_OP_BEGIN or CAPS_OP_END */
  uint32_t index;          /* the op's index in the model (0 .. op count - 1) */
  uint32_t opcode;         /* CAPS_OP_* (format.h) */
  uint32_t reserved;       /* 0 */
  const char* name;        /* the op's kind: "Conv2D", "PrimaryCaps", "CapsDense", ... */
  const char* output_name; /* its output tensor's name in the model ("" when unnamed) */
  uint64_t macs;           /* the op's multiply-adds in one run */
} caps_op_event;
typedef int32_t (*caps_observer_fn)(void* user, const caps_op_event* event);
/* Sets (fn NULL: removes) the observer of an interpreter set up with caps_interpreter_init*;
 * `user` is passed back to it. CAPS_ERR_NOT_READY before a successful init. */
caps_status caps_interpreter_set_observer(caps_interpreter* it, caps_observer_fn fn, void* user);

/* --- threads inside an op (docs/threads.md) -------------------------------------------------
 * capsrt starts no threads and takes no locks. An interpreter may be given the caller's
 * parallel_for at init: the SIMD kernel sets then cut the convolutions (by output-channel tiles,
 * or rows, or pixel panels) and the CapsDense (by classes and by blocks of input capsules) into
 * at most max_threads tasks each, and hand them to it. parallel_for must call
 * task(task_context, i) once for every i in [0, count), on any threads (the calling one may take
 * some), and return when every call has returned; count <= max_threads. pthreadpool's
 * pthreadpool_parallelize_1d(pool, task, task_context, count, 0) is one. The results are the
 * same bits for every thread count. Each task has its own scratch, so the arena grows:
 * caps_model_arena_size_threads. The reference kernels run on the calling thread. */
typedef void (*caps_task_fn)(void* task_context, size_t index);
typedef void (*caps_parallel_for_fn)(void* pool, size_t count, caps_task_fn task, void* task_context);
typedef struct caps_threading {
  caps_parallel_for_fn parallel_for; /* NULL: everything runs on the calling thread */
  void* pool;                        /* passed back to parallel_for */
  uint32_t max_threads;              /* tasks per op at most, 1 .. CAPS_MAX_THREADS */
} caps_threading;
#define CAPS_MAX_THREADS 256u
/* Arena bytes an interpreter with this kernel set and max_threads needs (1: as
 * caps_model_arena_size_for); 0 if the model is not loaded, the id unknown or max_threads out of
 * range. */
size_t caps_model_arena_size_threads(const caps_model* model, uint32_t kernels, uint32_t max_threads);
/* As caps_interpreter_init_kernels, with threads (NULL: none). CAPS_ERR_BAD_ARGUMENT when
 * max_threads is out of range; the arena must hold caps_model_arena_size_threads. */
caps_status caps_interpreter_init_threads(caps_interpreter* it, const caps_model* model, void* arena,
                                          size_t arena_size, uint32_t kernels,
                                          const caps_threading* threading);

/* --- int8 models (docs/fixed-point.md) ------------------------------------------------------
 * An int8 model (capsconv --quantize int8) runs on integer arithmetic only. caps_set_input_u8
 * takes its pixels as for a float model; caps_set_input_s8 takes bytes already quantised. Its
 * outputs are integers in fixed point, read through the tensor views: scores int32 in Q15, poses
 * int16 in Q15, the reconstruction int8 (pixel - 128). */

/* 1 for an int8 model, 0 for a float one or a model that is not loaded. */
int caps_model_is_int8(const caps_model* model);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CAPSRT_CAPSRT_H */
