// Fuzz target, structure-aware: the layout converters (xifengguo, flat5d, gram-ai) fed with what
// the checkpoint readers return, mutated the way real checkpoints go wrong: tensors missing,
// extra, renamed onto another's name, reshaped (also to extreme sizes), given another dtype,
// offset or a shorter storage. The fuzzer's bytes pick the fixture (tests/data/checkpoints: the
// three layouts as torch zip, legacy and safetensors files), the architecture (the fixtures'
// tiny one, a preset, or none: inferred from the mutated shapes, as capsconv does without --arch),
// the layout argument and the mutations. A conversion that succeeds must give a model that loads
// and runs. The yl-1993 EM fixtures (tests/data/em) go through capsconv's EM path, at an input
// size the bytes pick.
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "capsrt/capsrt.hpp"
#include "convert.hpp"
#include "em.hpp"
#include "fuzz_common.hpp"
#include "infer.hpp"
#include "model_shapes.hpp"

#ifndef CAPSRT_FUZZ_CHECKPOINTS
#error "CAPSRT_FUZZ_CHECKPOINTS: the folder of the checkpoint fixtures"
#endif

namespace {

using namespace capsrt::conv;

struct Fixtures {
  std::vector<Checkpoint> checkpoints;
  std::vector<Architecture> archs;
};

const Fixtures& fixtures() {
  static const Fixtures f = [] {
    Fixtures out;
    const std::string dir = CAPSRT_FUZZ_CHECKPOINTS "/";
    for (const char* name : {"tiny_xifengguo.pt", "tiny_flat5d.safetensors", "tiny_gram-ai.pt",
                             "tiny_gram-ai.legacy.pt", "tiny_views.pt", "tiny_wrapped.pt", "../em/tiny_em.pt",
                             "../em/tiny_em_wrapped.pt"})
      out.checkpoints.push_back(read_checkpoint(dir + name));
    out.archs.push_back(load_architecture(dir + "tiny_arch.json"));
    out.archs.push_back(load_architecture("small"));
    return out;
  }();
  return f;
}

const Layout kLayouts[] = {Layout::Auto, Layout::XifengGuo, Layout::Flat5d, Layout::GramAI};
const char* const kDtypes[][2] = {{"float32", "4"}, {"float16", "2"}, {"bfloat16", "2"},
                                  {"float64", "8"}, {"int64", "8"},   {"torch.QInt8Storage", "0"}};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixtures& fx = fixtures();
  fuzzgen::ByteReader r(data, size);
  Checkpoint ck = fx.checkpoints[r.byte() % fx.checkpoints.size()];
  const size_t arch_pick = r.byte() % (fx.archs.size() + 1);  // archs.size(): inferred
  const Layout layout = kLayouts[r.byte() % 4];
  const int routings = r.byte() % 4;  // 0: the architecture's
  for (int steps = 0; !r.done() && steps < 32; ++steps) {
    const uint8_t what = r.byte() % 9;
    if (ck.tensors.empty()) break;
    RawTensor& t = ck.tensors[r.byte() % ck.tensors.size()];
    switch (what) {
      case 0: ck.tensors.erase(ck.tensors.begin() + (&t - ck.tensors.data())); break;  // missing
      case 1: {                                                                      // extra
        RawTensor copy = t;
        copy.name += std::to_string(r.byte());
        ck.tensors.push_back(copy);
        break;
      }
      case 2: t.name = ck.tensors[r.byte() % ck.tensors.size()].name; break;  // duplicate key
      case 3:                                                                // one dim changed
        if (!t.shape.empty()) t.shape[r.byte() % t.shape.size()] = static_cast<int32_t>(r.dim(64));
        break;
      case 4:  // rank changed, strides made contiguous again
        if (r.byte() & 1) {
          t.shape.push_back(r.dim(8));
        } else if (!t.shape.empty()) {
          t.shape.pop_back();
        }
        t.stride.assign(t.shape.size(), 1);
        for (size_t k = t.shape.size(); k-- > 1;)  // (saturating: shapes may be absurd here)
          if (__builtin_mul_overflow(t.stride[k], t.shape[k], &t.stride[k - 1])) t.stride[k - 1] = INT64_MAX;
        break;
      case 5: {  // dtype
        const auto& d = kDtypes[r.byte() % 6];
        t.dtype = d[0];
        t.element_size = static_cast<uint32_t>(std::stoi(d[1]));
        break;
      }
      case 6: t.offset = static_cast<int32_t>(r.u32()); break;
      case 7: t.region_size = t.region_size > 0 ? r.u32() % t.region_size : 0; break;
      case 8:
        if (!t.stride.empty()) t.stride[r.byte() % t.stride.size()] = static_cast<int32_t>(r.u32());
        break;
    }
  }
  if (is_em_checkpoint(ck)) {
    EmOptions opt;
    opt.input.c = 1;
    opt.input.h = static_cast<uint32_t>(20 + arch_pick * 4 + static_cast<size_t>(layout));  // 20 .. 31
    opt.input.w = static_cast<uint32_t>(20 + routings * 3);                                  // 20 .. 29
    opt.iterations = routings;
    std::vector<uint8_t> model;
    try {
      const EmConversion e = read_em(ck, opt);
      model = capsrt::tools::build_em_capsnet(e.spec, e.weights);
    } catch (const ArchError&) {
      return 0;
    } catch (const CheckpointError&) {
      return 0;
    } catch (const capsrt::tools::WriterError&) {
      return 0;
    }
    fuzzcommon::Aligned buf(model.data(), model.size());
    capsrt::Model m;
    fuzzcommon::check(m.load(buf.data(), model.size()) == CAPS_OK, "a converted EM model does not load");
    fuzzcommon::run_model(m, data, size, 2000000);
    return 0;
  }
  Conversion c;
  try {
    const Architecture arch =
        arch_pick < fx.archs.size() ? fx.archs[arch_pick] : infer_architecture(ck, layout, InputSize{}).arch;
    c = convert(ck, arch, layout, routings);
  } catch (const ArchError&) {
    return 0;
  } catch (const CheckpointError&) {
    return 0;
  }
  fuzzcommon::Aligned buf(c.model.data(), c.model.size());
  capsrt::Model m;
  fuzzcommon::check(m.load(buf.data(), c.model.size()) == CAPS_OK, "a converted model does not load");
  fuzzcommon::check(m.arena_size() <= c.arena_size, "the converter's arena is smaller than the runtime's");
  fuzzcommon::run_model(m, data, size, 2000000);
  return 0;
}
