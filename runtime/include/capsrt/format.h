/* capsrt model file format, version 1.5: what of it the API shows — the format's versions and
 * limits, the dtypes and opcodes, and the model attributes (caps_model_attributes_get). The
 * file's tables (header, tensor and op entries) are the runtime's and the tools' business:
 * runtime/internal/capsrt/file_format.h, not installed. docs/model-format.md is the prose
 * specification of every field.
 *
 * All integers and floats are little-endian. Every struct has no implicit padding; the reader
 * copies them out of the (untrusted) buffer with memcpy, never by casting. */
#ifndef CAPSRT_FORMAT_H
#define CAPSRT_FORMAT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CAPS_MAGIC_0 'C'
#define CAPS_MAGIC_1 'A'
#define CAPS_MAGIC_2 'P'
#define CAPS_MAGIC_3 'S'
#define CAPS_FORMAT_MAJOR 1u
#define CAPS_FORMAT_MINOR 5u

/* Alignment of every section and every tensor's data, in the file and in the arena. */
#define CAPS_ALIGN 64u
/* "no tensor" / "no string" marker in id and offset fields. */
#define CAPS_NONE 0xFFFFFFFFu
/* Structural limits; they bound the work the validator does on hostile files. */
#define CAPS_MAX_RANK 4u
#define CAPS_MAX_TENSORS 256u
#define CAPS_MAX_OPS 128u
#define CAPS_MAX_OP_INPUTS 4u
#define CAPS_MAX_STRING 255u
#define CAPS_MAX_ROUTING_ITERATIONS 32u
#define CAPS_MAX_CLASSES 4096u
#define CAPS_MAX_INPUT_DIM 4096u
/* Every buffer the runtime touches (a tensor, and every intermediate an op makes: a padded input,
 * a PrimaryCaps conv output, the routing predictions) holds at most this many bytes, so element
 * counts and indices fit a signed 32-bit int on every target. Sizes are multiplied with overflow
 * checks; a file past the bound gets CAPS_ERR_BAD_TENSOR or CAPS_ERR_SHAPE_MISMATCH. */
#define CAPS_MAX_BUFFER_BYTES 0x7FFFFFFFu

typedef enum caps_dtype {
  CAPS_DTYPE_F32 = 1,
  CAPS_DTYPE_I8 = 2,
  CAPS_DTYPE_I16 = 3,
  CAPS_DTYPE_I32 = 4
} caps_dtype;

typedef enum caps_opcode {
  CAPS_OP_CONV2D = 1,        /* x[C,H,W], w[O,C,KH,KW], b[O] -> y[O,OH,OW]; optional ReLU */
  CAPS_OP_PRIMARY_CAPS = 2,  /* conv as above, then group into capsules, then squash -> [N,D] */
  CAPS_OP_CAPS_DENSE = 3,    /* u[I,DI], W[J,I,DO,DI] -> v[J,DO] by dynamic routing */
  CAPS_OP_LENGTH = 4,        /* v[J,D] -> scores[J] */
  CAPS_OP_MASK = 5,          /* v[J,D], scores[J] -> masked v flattened [J*D] */
  CAPS_OP_DENSE = 6,         /* x[K] (any rank), w[N,K], b[N] -> y[N]; optional ReLU/sigmoid */
  /* Matrix capsules with EM routing (since 1.5, float only; docs/em-routing.md). Capsule tensors
   * are [H,W,17T]: at each position the 16T pose values (4x4 matrices), then the T activations. */
  CAPS_OP_EM_PRIMARY_CAPS = 7, /* x[A,H,W], w[17B,A], b[17B] -> [H,W,17B]; sigmoid activations */
  CAPS_OP_EM_CONV_CAPS = 8,    /* x[H,W,17B], w[KKB,C,4,4], beta_u[C], beta_a[C] -> [OH,OW,17C] */
  CAPS_OP_EM_CLASS_CAPS = 9    /* x[H,W,17D], w[D,E,4,4], beta_u[E], beta_a[E] -> activations[E] */
} caps_opcode;

/* The M-step of EM routing (an op param, since 1.5). */
typedef enum caps_em_m_step {
  CAPS_EM_M_STEP_RENORMALISED = 0, /* r a_in renormalised over the outputs (yl-1993's code) */
  CAPS_EM_M_STEP_SCALED = 1        /* r a_in (the paper's) */
} caps_em_m_step;

/* The coordinate addition of EM class capsules (an op param, since 1.5): where each vote gets the
 * scaled row y/H and column x/W of its position. */
typedef enum caps_em_coord_add {
  CAPS_EM_COORD_NONE = 0,
  CAPS_EM_COORD_ELEMENTS_0_1 = 1, /* pose elements 0 and 1 (yl-1993's code) */
  CAPS_EM_COORD_ELEMENTS_3_7 = 2  /* elements 3 and 7, the rightmost column (the paper's) */
} caps_em_coord_add;

typedef enum caps_activation {
  CAPS_ACT_NONE = 0,
  CAPS_ACT_RELU = 1,
  CAPS_ACT_SIGMOID = 2
} caps_activation;

/* How the PrimaryCaps conv output (O channels, H x W, NCHW in memory) becomes N capsules of D. */
typedef enum caps_grouping {
  /* PyTorch view(B,-1,D) on NCHW: capsule i, component k = flat[D*i+k], flat = c*H*W + y*W + x */
  CAPS_GROUPING_NCHW_VIEW = 0,
  /* Keras reshape on NHWC: capsule i = (y*W+x)*G + g, component k = channel g*D+k (G = O/D) */
  CAPS_GROUPING_NHWC_CHANNELS = 1,
  /* One conv per component (gram-ai): capsule i = g*H*W + y*W + x, component k = channel k*G+g */
  CAPS_GROUPING_PER_DIM_CONV = 2
} caps_grouping;

typedef enum caps_softmax_axis {
  CAPS_SOFTMAX_OVER_OUTPUTS = 0, /* c[j,i] = softmax over j of b[.,i] (the paper) */
  CAPS_SOFTMAX_OVER_INPUTS = 1   /* c[j,i] = softmax over i of b[j,.] (gram-ai) */
} caps_softmax_axis;

typedef enum caps_squash_eps_mode {
  CAPS_SQUASH_EPS_ADD_TO_NORM = 0, /* v = s |s|^2/(1+|s|^2) / (|s| + eps)      */
  CAPS_SQUASH_EPS_IN_SQRT = 1      /* v = s |s|^2/(1+|s|^2) / sqrt(|s|^2 + eps) */
} caps_squash_eps_mode;

typedef enum caps_score_kind {
  CAPS_SCORE_LENGTH = 0,        /* score_j = sqrt(|v_j|^2 + length_eps) */
  CAPS_SCORE_SOFTMAX_LENGTH = 1, /* score = softmax over j of the lengths above */
  CAPS_SCORE_EM_ACTIVATION = 2   /* score_j = the EM class capsule's activation (since 1.5) */
} caps_score_kind;

/* How the tools turn a photo into the model's input (since 1.3). The runtime only records it:
 * the rule runs where the image is made (capsrun: tools/common/preprocess.cpp; docs/capsrun.md). */
typedef enum caps_input_preprocess {
  CAPS_PREPROCESS_NONE = 0,         /* scale the whole image to fit the input */
  CAPS_PREPROCESS_MNIST = 1,        /* ink's box to 20x20, centred by mass in 28x28 (MNIST) */
  CAPS_PREPROCESS_FASHION_MNIST = 2 /* object trimmed, longer side to 28, centred (Fashion-MNIST) */
} caps_input_preprocess;

/* Model-level attributes. 96 bytes. */
typedef struct caps_model_attributes {
  uint32_t input_channels;
  uint32_t input_height;
  uint32_t input_width;
  float input_scale;         /* input = pixel * input_scale + input_offset, pixel in 0..255 */
  float input_offset;
  uint32_t num_classes;
  uint32_t capsule_grouping; /* caps_grouping */
  uint32_t routing_iterations;
  uint32_t routing_softmax_axis; /* caps_softmax_axis */
  uint32_t squash_eps_mode;  /* caps_squash_eps_mode */
  float squash_eps;
  uint32_t score_kind;       /* caps_score_kind */
  float length_eps;
  uint32_t class_names_offset; /* num_classes consecutive NUL-terminated strings */
  uint32_t input_tensor;
  uint32_t scores_tensor;
  uint32_t poses_tensor;
  uint32_t recon_tensor;     /* CAPS_NONE when the model has no decoder */
  uint32_t decoder_first_op; /* ops [0,this) classify; [this,op_count) reconstruct */
  uint32_t description_offset; /* free text, or CAPS_NONE */
  uint32_t input_preprocess; /* caps_input_preprocess; since 1.3 (0 before) */
  uint32_t reserved[3];      /* must be 0 */
} caps_model_attributes;

#ifdef __cplusplus
} /* extern "C" */
static_assert(sizeof(caps_model_attributes) == 96, "attributes layout");
#endif

#endif /* CAPSRT_FORMAT_H */
