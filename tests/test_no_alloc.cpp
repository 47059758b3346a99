// Proves the runtime does not allocate: this binary replaces the global allocation functions
// (operator new/delete in all forms, and malloc/calloc/realloc/free where no sanitizer owns
// them) with counting versions, and asserts zero allocations during model load, interpreter
// setup, invoke and reconstruction of the canonical-size CapsNet.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

#include "capsnet.hpp"
#include "capsrt/capsrt.hpp"
#include "kernels_choice.hpp"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocs{0};
void note() {
  if (g_counting.load(std::memory_order_relaxed)) g_allocs.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

#if defined(__SANITIZE_ADDRESS__)
#define CAPSRT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CAPSRT_SANITIZED 1
#endif
#endif

#if !defined(CAPSRT_SANITIZED) && defined(__GLIBC__)
// glibc's own entry points; defining malloc & co. here interposes them for the whole process.
extern "C" void* __libc_malloc(size_t);
extern "C" void* __libc_calloc(size_t, size_t);
extern "C" void* __libc_realloc(void*, size_t);
extern "C" void* __libc_memalign(size_t, size_t);
extern "C" void __libc_free(void*);
extern "C" void* malloc(size_t n) {
  note();
  return __libc_malloc(n);
}
extern "C" void* calloc(size_t n, size_t m) {
  note();
  return __libc_calloc(n, m);
}
extern "C" void* realloc(void* p, size_t n) {
  note();
  return __libc_realloc(p, n);
}
extern "C" void* aligned_alloc(size_t a, size_t n) {
  note();
  return __libc_memalign(a, n);
}
extern "C" void free(void* p) { __libc_free(p); }
#define CAPSRT_COUNTS_MALLOC 1
#endif

void* operator new(size_t n) {
  note();
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  note();
  return std::malloc(n ? n : 1);
}
void* operator new[](size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void* operator new(size_t n, std::align_val_t a) {
  note();
  const size_t al = static_cast<size_t>(a);
  if (void* p = std::aligned_alloc(al, (n + al - 1) / al * al)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { std::free(p); }

int main() {
  using namespace capsrt;
  uint32_t kernels = 0;
  try {
    kernels = tools::choose_kernels("");  // CAPSRT_KERNELS, as every test program
  } catch (const std::exception& e) {
    std::printf("FAIL: %s\n", e.what());
    return 1;
  }
  // Everything the tools side needs is made before counting starts.
  const tools::CapsNetSpec spec = tools::capsnet_preset("canonical");
  const std::vector<uint8_t> bytes = tools::build_capsnet(spec, tools::capsnet_random_weights(spec, 1));
  std::vector<uint8_t> model_buf(bytes.size() + 64);
  uint8_t* model_bytes = model_buf.data() + (64 - reinterpret_cast<uintptr_t>(model_buf.data()) % 64) % 64;
  std::copy(bytes.begin(), bytes.end(), model_bytes);
  std::vector<uint8_t> arena_buf(4u << 20);
  uint8_t* arena = arena_buf.data() + (64 - reinterpret_cast<uintptr_t>(arena_buf.data()) % 64) % 64;
  std::vector<uint8_t> pixels(28 * 28);
  for (size_t k = 0; k < pixels.size(); ++k) pixels[k] = static_cast<uint8_t>(k * 13);

  // Self-check: the counter sees allocations at all (otherwise zero would prove nothing).
  g_counting = true;
  { std::vector<int>* probe = new std::vector<int>(10); delete probe; }
#ifdef CAPSRT_COUNTS_MALLOC
  { void* probe = std::malloc(16); std::free(probe); }
  const long expect_probe = 5;  // 2 x (operator new -> malloc) + 1 malloc
#else
  const long expect_probe = 2;  // 2 x operator new
#endif
  g_counting = false;
  const long probe_count = g_allocs.exchange(0);
  if (probe_count < expect_probe) {
    std::printf("FAIL: allocation counter does not work (saw %ld, expected %ld)\n", probe_count, expect_probe);
    return 1;
  }

  g_counting = true;
  Model model;
  const caps_status s1 = model.load(model_bytes, bytes.size());
  Interpreter it;
  const caps_status s2 = it.init(model, arena, arena_buf.size() - 64, kernels);
  const caps_status s3 = it.set_input_u8(pixels.data(), pixels.size());
  const caps_status s4 = it.invoke();
  const caps_status s5 = it.reconstruct(-1);
  const caps_status s6 = it.reconstruct(3);
  // and through the C API
  caps_model cm;
  caps_interpreter ci;
  const caps_status s7 = caps_model_load(&cm, model_bytes, bytes.size(), 0);
  const caps_status s8 = caps_interpreter_init_kernels(&ci, &cm, arena, arena_buf.size() - 64, kernels);
  const caps_status s9 = caps_set_input_u8(&ci, pixels.data(), pixels.size());
  const caps_status s10 = caps_invoke(&ci);
  // and on every kernel set this machine runs (each prepares, plans and runs its own way)
  caps_status s11 = CAPS_OK;
  int sets = 0;
  for (uint32_t id = CAPS_KERNELS_REFERENCE; id < CAPS_KERNELS_COUNT; ++id) {
    if (!caps_kernels_available(id)) continue;
    ++sets;
    Interpreter ik;
    caps_status s = ik.init(model, arena, arena_buf.size() - 64, id);
    if (s == CAPS_OK) s = ik.set_input_u8(pixels.data(), pixels.size());
    if (s == CAPS_OK) s = ik.invoke();
    if (s == CAPS_OK) s = ik.reconstruct(-1);
    if (s != CAPS_OK) s11 = s;
  }
  g_counting = false;
  const long n = g_allocs.load();

  const caps_status all[] = {s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11};
  for (caps_status s : all)
    if (s != CAPS_OK) {
      std::printf("FAIL: a runtime call returned: %s\n", caps_status_message(s));
      return 1;
    }
  std::printf("allocation counter self-check saw %ld allocations%s\n", probe_count,
#ifdef CAPSRT_COUNTS_MALLOC
              " (operator new and malloc counted)"
#else
              " (operator new counted; malloc belongs to the sanitizer here)"
#endif
  );
  std::printf("canonical CapsNet: load, init, set_input, invoke, 2 reconstructions, C API, and "
              "init/invoke/reconstruct on each of the %d kernel sets available here: %ld allocations\n",
              sets, n);
  if (n != 0) {
    std::printf("FAIL: the runtime allocated\n");
    return 1;
  }
  std::printf("1 passed, 0 failed\n");
  return 0;
}
