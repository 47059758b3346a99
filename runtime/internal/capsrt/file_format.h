/* capsrt model file format, version 1.3: the file's tables, the byte layout shared by the
 * runtime (reader) and the tools (writer). Internal: not installed, not API (the public part is
 * capsrt/format.h). docs/model-format.md is the prose specification of every field. */
#ifndef CAPSRT_FILE_FORMAT_H
#define CAPSRT_FILE_FORMAT_H

#include <string.h>

#include "capsrt/format.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum caps_tensor_kind {
  CAPS_TENSOR_CONST = 0,      /* data lives in the file (weights) */
  CAPS_TENSOR_ACTIVATION = 1  /* data lives in the caller's arena at the planned offset */
} caps_tensor_kind;

/* How a const tensor's bytes are arranged. dims always give the logical shape; byte_length is
 * numel * element size for every layout. Unknown values are refused. Since version 1.1:
 *  - CONV_IHWO: convolution weights, logical [O,C,KH,KW], stored with the output channel fastest:
 *    element (o,c,ky,kx) at ((c*KH + ky)*KW + kx)*O + o. A vector load then holds consecutive
 *    output channels for one tap, which every SIMD convolution kernel broadcasts inputs against.
 *  - CAPS_JDKI: capsule transform W, logical [J,I,DO,DI], stored with the input capsule fastest:
 *    element (j,i,d,k) at ((j*DO + d)*DI + k)*I + i. A vector load then holds consecutive input
 *    capsules, so the u_hat transform and the routing run with inputs in the vector lanes.
 * Both are ISA-neutral (any vector width reads them) and the reference kernels read them too. */
typedef enum caps_layout {
  CAPS_LAYOUT_ROW_MAJOR = 0,
  CAPS_LAYOUT_CONV_IHWO = 1,
  CAPS_LAYOUT_CAPS_JDKI = 2,
  /* Since version 1.2, int8 weights of Conv2D, PrimaryCaps and Dense, logical [O,K] (a conv's K
   * runs over (c,ky,kx), kx fastest): groups of 4 along K, then the output channel, then the 4:
   * element (o,k) at ((k/4)*O + o)*4 + k%4, K padded with zeros to a multiple of 4, so
   * byte_length is O * 4*ceil(K/4). docs/fixed-point.md. */
  CAPS_LAYOUT_K4O = 3
} caps_layout;

typedef enum caps_quant_kind {
  CAPS_QUANT_NONE = 0,
  CAPS_QUANT_PER_TENSOR = 1,  /* real = scale * (q - zero_point) */
  CAPS_QUANT_PER_CHANNEL = 2  /* scales in tensor quant_params_tensor, one per index of quant_axis */
} caps_quant_kind;

/* At offset 0. 96 bytes. */
typedef struct caps_file_header {
  uint8_t magic[4];         /* "CAPS" */
  uint16_t version_major;   /* CAPS_FORMAT_MAJOR */
  uint16_t version_minor;   /* <= CAPS_FORMAT_MINOR of the reader */
  uint32_t header_size;     /* sizeof(caps_file_header) */
  uint32_t checksum;        /* CRC-32 (IEEE) of all total_size bytes, this field read as zero */
  uint32_t total_size;      /* file size in bytes, a multiple of CAPS_ALIGN */
  uint32_t arena_size;      /* 1.0: bytes the planned activations and scratch need. 1.1: the
                               largest need over every kernel set the writer knows (activations,
                               scratch planned per kernel set at init, the prepared op table) */
  uint32_t flags;           /* must be 0 in version 1.0 */
  uint32_t tensor_table_offset;
  uint32_t tensor_count;
  uint32_t op_table_offset;
  uint32_t op_count;
  uint32_t attributes_offset;
  uint32_t attributes_size; /* sizeof(caps_model_attributes) */
  uint32_t strings_offset;
  uint32_t strings_size;
  uint32_t data_offset;
  uint32_t data_size;
  uint32_t reserved[7];     /* must be 0 */
} caps_file_header;

/* One per tensor, in the tensor table. 64 bytes. */
typedef struct caps_tensor_entry {
  uint8_t dtype;            /* caps_dtype */
  uint8_t rank;             /* 1..CAPS_MAX_RANK */
  uint8_t kind;             /* caps_tensor_kind */
  uint8_t layout;           /* caps_layout */
  uint32_t dims[4];         /* dims[0..rank-1] >= 1, the rest 0 */
  uint32_t offset;          /* const: file offset of the data; activation: arena offset */
  uint32_t byte_length;     /* numel * element size */
  uint32_t name_offset;     /* into the string section, or CAPS_NONE */
  uint8_t quant_kind;       /* caps_quant_kind; NONE for float tensors */
  uint8_t quant_axis;       /* per-channel: the dimension the scales index */
  uint16_t reserved0;
  float quant_scale;        /* per-tensor scale (> 0) */
  int32_t quant_zero_point; /* per-tensor zero point */
  uint32_t quant_params_tensor; /* per-channel: f32 tensor of scales, else CAPS_NONE */
  uint32_t reserved[4];     /* must be 0 */
} caps_tensor_entry;

/* One per op, in execution order. 64 bytes. */
typedef struct caps_op_entry {
  uint16_t opcode;          /* caps_opcode */
  uint8_t n_inputs;
  uint8_t n_outputs;        /* 1 in version 1.0 */
  uint32_t inputs[CAPS_MAX_OP_INPUTS]; /* tensor ids; unused slots CAPS_NONE */
  uint32_t output;          /* tensor id */
  uint32_t scratch_offset;  /* 1.0: arena offset of the op's scratch (0 when scratch_size is 0);
                               1.1: 0, the runtime places each kernel set's scratch at init */
  uint32_t scratch_size;    /* 1.0: the reference kernels' scratch, as the runtime computes it;
                               1.1: 0 */
  uint32_t params[8];       /* op-specific, see docs/model-format.md; unused entries 0 */
} caps_op_entry;

/* Index of each op's params. */
enum {
  CAPS_CONV_STRIDE_H = 0,
  CAPS_CONV_STRIDE_W = 1,
  CAPS_CONV_PAD_H = 2, /* see CAPS_CONV_PAD_BEFORE and CAPS_CONV_PAD_EXTRA_AFTER */
  CAPS_CONV_PAD_W = 3,
  CAPS_CONV_ACTIVATION = 4, /* CONV2D only */
  CAPS_PRIMARY_CAPS_DIM = 4, /* PRIMARY_CAPS only */
  CAPS_DENSE_ACTIVATION = 0,
  /* The int8 forms (version 1.2, docs/fixed-point.md): */
  CAPS_PRIMARY_CAPS_Q_FRAC = 5,   /* F: the conv output's (and squash input's) Q format, <= 16 */
  CAPS_PRIMARY_CAPS_Q_EPS_LO = 6, /* squash eps in Q32 as fixed_point.h's SquashQ, < 2^62 */
  CAPS_PRIMARY_CAPS_Q_EPS_HI = 7,
  CAPS_CAPS_DENSE_Q_FRAC = 0,     /* F_s: the routing squash's input format, <= 16 */
  CAPS_CAPS_DENSE_Q_EPS_LO = 1,
  CAPS_CAPS_DENSE_Q_EPS_HI = 2,
  CAPS_CAPS_DENSE_LOW_MEMORY = 3, /* 1: recompute the predictions instead of storing them */
  CAPS_LENGTH_Q_EPS = 0,          /* length eps in Q30, < 2^30 */
  /* The EM ops (since 1.5): */
  CAPS_EM_PRIMARY_TYPES = 0,      /* EM_PRIMARY_CAPS: B, the capsule types */
  CAPS_EM_CONV_KERNEL = 0,        /* EM_CONV_CAPS: K */
  CAPS_EM_CONV_STRIDE = 1,
  CAPS_EM_CLASS_COORD_ADD = 0,    /* EM_CLASS_CAPS: caps_em_coord_add */
  CAPS_EM_ITERATIONS = 2,         /* EM_CONV_CAPS and EM_CLASS_CAPS: 1..CAPS_MAX_ROUTING_ITERATIONS */
  CAPS_EM_M_STEP = 3,             /* caps_em_m_step */
  CAPS_EM_LAMBDA = 4,             /* float32 bits: the activations' inverse temperature, (0, 1e4] */
  CAPS_EM_EPS = 5                 /* float32 bits: eps, (0, 1] */
};

/* A conv's padding param (CAPS_CONV_PAD_H or _W, Conv2D and PrimaryCaps): bits 0-15 the zero
   rows (columns) before the input, and since 1.4 bits 16-31 the extra zero rows (columns) after
   it, beyond as many as before (TensorFlow's 'same' padding puts the odd one after: a 3x3 conv
   of stride 2 on 32 rows pads 0 before and 1 after). Files before 1.4 have 0 there. */
#define CAPS_CONV_PAD_BEFORE(param) ((param) & 0xFFFFu)
#define CAPS_CONV_PAD_EXTRA_AFTER(param) ((param) >> 16)
#define CAPS_CONV_PAD_PARAM(before, extra_after) ((uint32_t)(before) | ((uint32_t)(extra_after) << 16))

/* A param marked "float32 bits" holds a float's IEEE bits in its uint32 word. These convert
 * between the two by copying, with no float arithmetic: the loader also checks float fields
 * (quant_scale) on their bits, since the int8-only runtime for a core without an FPU links no
 * floating-point routine. */
static inline uint32_t caps_f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}
static inline float caps_f32_from_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

#ifdef __cplusplus
} /* extern "C" */
static_assert(sizeof(caps_file_header) == 96, "header layout");
static_assert(sizeof(caps_tensor_entry) == 64, "tensor entry layout");
static_assert(sizeof(caps_op_entry) == 64, "op entry layout");
#endif

#endif /* CAPSRT_FILE_FORMAT_H */
