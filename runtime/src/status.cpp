#include "capsrt/capsrt.h"

namespace {
const char* const kMessages[CAPS_STATUS_COUNT] = {
    "ok",
    "a required pointer argument is NULL",
    "model truncated: the buffer is shorter than the header or the size the header states",
    "not a capsrt model (bad magic)",
    "unsupported model format version",
    "model checksum mismatch: the file is damaged",
    "inconsistent model header (sizes, flags or reserved fields)",
    "an offset or length points past the end of its section or buffer",
    "misaligned buffer, section, tensor or arena offset",
    "invalid tensor entry (dtype, rank, dims, kind, layout, length or quantisation)",
    "invalid op entry (opcode, arity, tensor ids or parameters)",
    "tensor shapes do not match between ops",
    "invalid graph (tensor produced twice, used before produced, or outputs missing)",
    "model attribute out of range",
    "invalid string (unterminated, too long or not printable)",
    "invalid arena plan (a buffer leaves the arena or overlaps another live buffer)",
    "arena too small: it must be at least the model's arena size (caps_model_arena_size)",
    "unsupported op or dtype in this build",
    "argument out of range",
    "not ready: load the model, init the interpreter, set the input and invoke first",
    "the run was stopped by the interpreter's observer",
    "the capsrt header this program was built with does not match the library it linked",
    "the tensor holds another dtype: this model is int8 (or float); caps_get_tensor says each one's",
};
}  // namespace

extern "C" const char* caps_status_message(caps_status status) {
  if (status < 0 || status >= CAPS_STATUS_COUNT) return "unknown status code";
  return kMessages[status];
}
