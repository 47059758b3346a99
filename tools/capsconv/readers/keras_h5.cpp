// Keras HDF5 files (docs/capsconv.md, "Keras"), through Debian's libhdf5: a full model
// (model.save: the root attribute model_config and the group model_weights) or weights only
// (save_weights: the layer groups at the root). Each layer group's attribute weight_names lists
// its weights, each a float dataset under the group; they become tensors named by the group and
// the weight's name ("conv2d/conv2d/kernel:0", "decoder/dense_1/kernel:0": a nested model's
// layers are inside its group), and the model's JSON goes to Checkpoint::model_config for the
// Keras conversion (keras.cpp).
//
// The file is opened from memory (the core driver on a copy of the bytes). Every count and size
// is bounded before it is read: strings, names, ranks, elements. libhdf5's own error printing is
// off; its failures become CheckpointErrors.
//
// libhdf5 is not safe on hostile files: fuzzing libhdf5 1.10.8 through this reader found, within
// a few hundred inputs, allocations of 2^63 bytes inside H5C_protect and leaks. So the library
// runs in a child process: the child parses the file and sends back the model's JSON and the
// weights (float32) through a pipe; the parent reads them with every size bounded. A child that
// crashes, is killed, runs out of memory (4 GiB of address space, where no sanitizer needs more)
// or takes over 20 s (CAPSCONV_HDF5_SECONDS) is reported as a damaged file, never a crash of
// capsconv.
#include <hdf5.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>

// Built with a sanitizer (its shadow memory needs more address space than the child's limit)?
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CAPSRT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define CAPSRT_SANITIZED 1
#endif
#endif
#ifndef CAPSRT_SANITIZED
#define CAPSRT_SANITIZED 0
#endif
#if CAPSRT_SANITIZED
#include <sanitizer/common_interface_defs.h>
#endif

#include "checkpoint.hpp"

namespace capsrt {
namespace conv {

namespace {

constexpr size_t kMaxString = size_t{64} << 20;    // a model_config's JSON
constexpr size_t kMaxNames = 100000;               // layers, or weights of one layer
constexpr size_t kMaxNameLength = 4096;
constexpr int64_t kMaxTensorElements = int64_t{1} << 28;
constexpr int64_t kMaxTotalElements = int64_t{1} << 29;

// An hid_t closed when it goes out of scope.
class Hid {
 public:
  Hid(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  ~Hid() {
    if (id_ >= 0) close_(id_);
  }
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

[[noreturn]] void fail(const std::string& what) { throw CheckpointError("Keras HDF5 file: " + what); }

// Strings of a string attribute (scalar or one-dimensional, fixed-length or variable-length).
std::vector<std::string> string_attribute(hid_t obj, const char* name, const std::string& where) {
  if (H5Aexists(obj, name) <= 0) return {};
  Hid a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  if (!a.ok()) fail("cannot open the attribute " + std::string(name) + " of " + where);
  Hid type(H5Aget_type(a.get()), H5Tclose);
  Hid space(H5Aget_space(a.get()), H5Sclose);
  if (!type.ok() || !space.ok()) fail("cannot read the attribute " + std::string(name) + " of " + where);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  const hssize_t count = H5Sget_simple_extent_npoints(space.get());
  if (rank < 0 || rank > 1 || count < 0 || static_cast<size_t>(count) > kMaxNames)
    fail("the attribute " + std::string(name) + " of " + where + " is not a list of strings");
  std::vector<std::string> out;
  if (count == 0) return out;  // (Keras writes a layer without weights as an empty float array)
  if (H5Tget_class(type.get()) != H5T_STRING)
    fail("the attribute " + std::string(name) + " of " + where + " is not a string");
  const bool variable = H5Tis_variable_str(type.get()) > 0;
  Hid mem(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_cset(mem.get(), H5Tget_cset(type.get()));  // ASCII or UTF-8, as stored: no conversion
  if (variable) {
    H5Tset_size(mem.get(), H5T_VARIABLE);
    std::vector<char*> ptrs(static_cast<size_t>(count), nullptr);
    if (H5Aread(a.get(), mem.get(), ptrs.data()) < 0) fail("cannot read the attribute " + std::string(name) + " of " + where);
    bool too_long = false;
    for (char* p : ptrs) {
      const size_t n = p ? strnlen(p, kMaxString + 1) : 0;
      too_long = too_long || n > kMaxString;
      out.emplace_back(p ? std::string(p, std::min(n, kMaxString)) : std::string());
    }
    H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, ptrs.data());
    if (too_long) fail("the attribute " + std::string(name) + " of " + where + " is longer than 64 MiB");
    return out;
  }
  const size_t size = H5Tget_size(type.get());
  if (size == 0 || size > kMaxString || size * static_cast<size_t>(count) > kMaxString)
    fail("the attribute " + std::string(name) + " of " + where + " is longer than 64 MiB");
  H5Tset_size(mem.get(), size);
  H5Tset_strpad(mem.get(), H5T_STR_NULLPAD);  // numpy's 'S' strings fill their whole size: no room for a NUL
  std::vector<char> buf(size * static_cast<size_t>(count));
  if (H5Aread(a.get(), mem.get(), buf.data()) < 0) fail("cannot read the attribute " + std::string(name) + " of " + where);
  for (hssize_t k = 0; k < count; ++k) {
    const char* p = buf.data() + static_cast<size_t>(k) * size;
    out.emplace_back(p, strnlen(p, size));
  }
  return out;
}

// A weight dataset as a float32 tensor (float16, float32 and float64 in the file).
RawTensor read_weight(hid_t layer, const std::string& name, int64_t* total) {
  if (name.empty() || name.size() > kMaxNameLength || name.find("..") != std::string::npos || name[0] == '/')
    fail("a weight name that is not a path inside its layer: '" + name.substr(0, 64) + "'");
  // (The caller has checked that every group on the path exists: H5Lexists needs them.)
  if (H5Lexists(layer, name.c_str(), H5P_DEFAULT) <= 0) fail("the weight " + name + " is listed but not in the file");
  Hid d(H5Dopen2(layer, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!d.ok()) fail("the weight " + name + " is not a dataset");
  Hid type(H5Dget_type(d.get()), H5Tclose);
  Hid space(H5Dget_space(d.get()), H5Sclose);
  if (!type.ok() || !space.ok() || H5Tget_class(type.get()) != H5T_FLOAT)
    fail("the weight " + name + " is not floating point");
  const size_t item = H5Tget_size(type.get());
  if (item != 2 && item != 4 && item != 8) fail("the weight " + name + " has " + std::to_string(item) + "-byte floats");
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0 || rank > 8) fail("the weight " + name + " has rank " + std::to_string(rank));
  hsize_t dims[8] = {};
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  RawTensor t;
  t.name = name;
  t.dtype = "float32";
  t.element_size = 4;
  int64_t n = 1;
  for (int k = 0; k < rank; ++k) {
    if (dims[k] > static_cast<hsize_t>(kMaxTensorElements)) fail("the weight " + name + " is too large");
    t.shape.push_back(static_cast<int64_t>(dims[k]));
    n *= static_cast<int64_t>(dims[k]);
    if (n > kMaxTensorElements) fail("the weight " + name + " has more than 2^28 elements");
  }
  *total += n;
  if (*total > kMaxTotalElements) fail("more than 2^29 weight elements in all");
  t.stride.assign(t.shape.size(), 1);
  for (size_t k = t.shape.size(); k-- > 1;) t.stride[k - 1] = t.stride[k] * t.shape[k];
  auto bytes = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(n) * 4);
  if (n > 0 && H5Dread(d.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes->data()) < 0)
    fail("cannot read the weight " + name + " (damaged data, or an HDF5 filter this build lacks)");
  t.bytes = bytes;
  t.region_begin = 0;
  t.region_size = bytes->size();
  return t;
}

bool recognises(const std::vector<uint8_t>& b) {
  static const uint8_t kSig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  return b.size() >= 8 && std::memcmp(b.data(), kSig, 8) == 0;
}

Checkpoint read_here(const FileBytes& file) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  Hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!fapl.ok() || H5Pset_fapl_core(fapl.get(), 1 << 16, 0) < 0 ||
      H5Pset_file_image(fapl.get(), const_cast<uint8_t*>(file->data()), file->size()) < 0)
    fail("cannot set up libhdf5");
  Hid f(H5Fopen("capsconv-keras.h5", H5F_ACC_RDONLY, fapl.get()), H5Fclose);
  if (!f.ok()) fail("libhdf5 cannot open it (truncated or damaged)");
  Checkpoint ck;
  const std::vector<std::string> config = string_attribute(f.get(), "model_config", "the file");
  if (config.size() > 1) fail("model_config is not one string");
  if (!config.empty()) ck.model_config = config[0];
  const std::vector<std::string> version = string_attribute(f.get(), "keras_version", "the file");
  // A full model keeps its weights under model_weights; save_weights puts them at the root.
  const bool full = H5Lexists(f.get(), "model_weights", H5P_DEFAULT) > 0;
  Hid base(full ? H5Gopen2(f.get(), "model_weights", H5P_DEFAULT) : H5Gopen2(f.get(), "/", H5P_DEFAULT), H5Gclose);
  if (!base.ok()) fail("model_weights is not a group");
  const std::vector<std::string> layers = string_attribute(base.get(), "layer_names", full ? "model_weights" : "the file");
  if (layers.empty())
    fail(std::string("no layer_names attribute on ") + (full ? "model_weights" : "the root") +
         ": not a Keras model or weights file");
  ck.notes.push_back(std::string(full ? "a full Keras model" : "Keras weights only (save_weights)") +
                     (version.empty() ? "" : ", Keras " + version[0]));
  std::set<std::string> seen;
  int64_t total = 0;
  for (const std::string& layer : layers) {
    if (layer.empty() || layer.size() > kMaxNameLength || layer.find('/') != std::string::npos)
      fail("a layer name that is not a group name: '" + layer.substr(0, 64) + "'");
    if (H5Lexists(base.get(), layer.c_str(), H5P_DEFAULT) <= 0) fail("the layer " + layer + " is listed but has no group");
    Hid g(H5Gopen2(base.get(), layer.c_str(), H5P_DEFAULT), H5Gclose);
    if (!g.ok()) fail("the layer " + layer + " is not a group");
    for (const std::string& w : string_attribute(g.get(), "weight_names", "layer " + layer)) {
      // Each path component must exist before H5Lexists may look below it.
      size_t at = 0;
      while ((at = w.find('/', at + 1)) != std::string::npos)
        if (H5Lexists(g.get(), w.substr(0, at).c_str(), H5P_DEFAULT) <= 0)
          fail("the weight " + w + " of layer " + layer + " is listed but not in the file");
      if (!seen.insert(layer + "/" + w).second) fail("the weight " + w + " of layer " + layer + " appears twice");
      ck.tensors.push_back(read_weight(g.get(), w, &total));
      ck.tensors.back().name = layer + "/" + w;
    }
  }
  return ck;
}

// --- the child process and what it sends ---------------------------------------------------------
// 'K', then: u64 length + model_config; u32 count + notes (u32 length + bytes each); u32 count +
// tensors (u32 name length + name, u32 rank, u64 dims, u64 bytes + the float32 data). Or 'E' and
// the error message.

void put(std::vector<uint8_t>* out, const void* p, size_t n) {
  const uint8_t* b = static_cast<const uint8_t*>(p);
  out->insert(out->end(), b, b + n);
}
void put_u32(std::vector<uint8_t>* out, uint32_t v) { put(out, &v, 4); }
void put_u64(std::vector<uint8_t>* out, uint64_t v) { put(out, &v, 8); }
void put_string(std::vector<uint8_t>* out, const std::string& s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  put(out, s.data(), s.size());
}

bool write_all(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Seconds libhdf5 may take on one file: 20, or CAPSCONV_HDF5_SECONDS (1..600), which the fuzz
// regression replays set lower so that a kept hang input costs them less.
unsigned hdf5_seconds() {
  const char* v = std::getenv("CAPSCONV_HDF5_SECONDS");
  const long n = v != nullptr ? std::strtol(v, nullptr, 10) : 0;
  return n >= 1 && n <= 600 ? static_cast<unsigned>(n) : 20u;
}

[[noreturn]] void child(const FileBytes& file, int fd, unsigned seconds) {
  // Handlers survive fork: the parent's (a fuzzer's, a sanitizer's) would catch the child's alarm
  // or crash and carry on, or report libhdf5's fault as ours. The child dies of them instead.
  for (int sig : {SIGPIPE, SIGALRM, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) signal(sig, SIG_DFL);
#if CAPSRT_SANITIZED
  // Likewise a sanitizer's death callback: libFuzzer's writes the input as a crash of the fuzz
  // target when a sanitizer stops the child on libhdf5's own memory errors, which the parent
  // already answers as a damaged file. The sanitizer still prints its report.
  __sanitizer_set_death_callback(nullptr);
#endif
  alarm(seconds);  // real files parse in well under a second; libhdf5 loops forever on some damaged ones
#if !CAPSRT_SANITIZED
  const rlimit as{rlim_t{4} << 30, rlim_t{4} << 30};  // (the sanitizers reserve terabytes of it)
  setrlimit(RLIMIT_AS, &as);
#endif
  std::vector<uint8_t> out;
  try {
    const Checkpoint ck = read_here(file);
    out.push_back('K');
    put_u64(&out, ck.model_config.size());
    put(&out, ck.model_config.data(), ck.model_config.size());
    put_u32(&out, static_cast<uint32_t>(ck.notes.size()));
    for (const std::string& n : ck.notes) put_string(&out, n);
    put_u32(&out, static_cast<uint32_t>(ck.tensors.size()));
    for (const RawTensor& t : ck.tensors) {
      put_string(&out, t.name);
      put_u32(&out, static_cast<uint32_t>(t.shape.size()));
      for (int64_t d : t.shape) put_u64(&out, static_cast<uint64_t>(d));
      put_u64(&out, t.region_size);
      put(&out, t.bytes->data() + t.region_begin, t.region_size);
    }
  } catch (const std::exception& e) {
    out.assign(1, 'E');
    const std::string m = e.what();
    put(&out, m.data(), m.size());
  }
  _exit(write_all(fd, out.data(), out.size()) ? 0 : 3);
}

// Reads the child's answer, every size checked against what can be there.
struct Reader {
  const std::vector<uint8_t>& b;
  size_t at = 0;
  void need(size_t n) {
    if (b.size() - at < n) fail("the HDF5 reader's answer is cut short");
  }
  template <typename T>
  T number() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, b.data() + at, sizeof(T));
    at += sizeof(T);
    return v;
  }
  uint32_t u32() { return number<uint32_t>(); }
  uint64_t u64() { return number<uint64_t>(); }
  std::string str(size_t max) {
    const uint64_t n = u32();
    if (n > max) fail("the HDF5 reader's answer holds an over-long name");
    need(n);
    std::string s(reinterpret_cast<const char*>(b.data() + at), n);
    at += n;
    return s;
  }
};

Checkpoint read(const FileBytes& file) {
  int fds[2];
  if (pipe(fds) != 0) fail(std::string("cannot start the HDF5 reader: ") + std::strerror(errno));
  std::fflush(nullptr);
  const unsigned seconds = hdf5_seconds();
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    fail(std::string("cannot start the HDF5 reader: ") + std::strerror(errno));
  }
  if (pid == 0) {
    close(fds[0]);
    child(file, fds[1], seconds);
  }
  close(fds[1]);
  // The answer: at most the elements' cap in floats plus the names (a few MB).
  const size_t max_answer = static_cast<size_t>(kMaxTotalElements) * 4 + (size_t{64} << 20) + (size_t{16} << 20);
  auto answer_buf = std::make_shared<std::vector<uint8_t>>();  // the tensors keep views into it
  std::vector<uint8_t>& answer = *answer_buf;
  uint8_t buf[1 << 16];
  bool too_long = false;
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (answer.size() + static_cast<size_t>(n) > max_answer) {
      too_long = true;
      break;
    }
    answer.insert(answer.end(), buf, buf + n);
  }
  close(fds[0]);
  if (too_long) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (too_long) fail("the HDF5 reader's answer is larger than the weights may be");
  if (WIFSIGNALED(status))
    fail(WTERMSIG(status) == SIGALRM ? "libhdf5 took over " + std::to_string(seconds) + " s on it (a damaged or hostile file)"
                                     : "libhdf5 failed on it (signal " + std::to_string(WTERMSIG(status)) +
                                           ": a damaged HDF5 structure, or more memory than 4 GiB)");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || answer.empty())
    fail("libhdf5 failed on it (a damaged HDF5 structure)");
  if (answer[0] == 'E') throw CheckpointError(std::string(answer.begin() + 1, answer.end()));
  if (answer[0] != 'K') fail("the HDF5 reader's answer is malformed");
  Reader r{answer, 1};
  Checkpoint ck;
  const uint64_t config_len = r.u64();
  if (config_len > kMaxString) fail("model_config is longer than 64 MiB");
  r.need(config_len);
  ck.model_config.assign(reinterpret_cast<const char*>(answer.data() + r.at), config_len);
  r.at += config_len;
  const uint32_t notes = r.u32();
  if (notes > 16) fail("the HDF5 reader's answer is malformed");
  for (uint32_t k = 0; k < notes; ++k) ck.notes.push_back(r.str(4096));
  const uint32_t count = r.u32();
  if (count > kMaxNames) fail("more than 100,000 weights");
  int64_t total = 0;
  for (uint32_t k = 0; k < count; ++k) {
    RawTensor t;
    t.name = r.str(kMaxNameLength);
    t.dtype = "float32";
    t.element_size = 4;
    const uint32_t rank = r.u32();
    if (rank > 8) fail("a weight of rank over 8");
    int64_t n = 1;
    for (uint32_t d = 0; d < rank; ++d) {
      const uint64_t dim = r.u64();
      if (dim > static_cast<uint64_t>(kMaxTensorElements)) fail("a weight over 2^28 elements");
      t.shape.push_back(static_cast<int64_t>(dim));
      n *= static_cast<int64_t>(dim);
      if (n > kMaxTensorElements) fail("a weight over 2^28 elements");
    }
    total += n;
    if (total > kMaxTotalElements) fail("more than 2^29 weight elements in all");
    const uint64_t bytes = r.u64();
    if (bytes != static_cast<uint64_t>(n) * 4) fail("the HDF5 reader's answer is malformed");
    r.need(bytes);
    t.stride.assign(t.shape.size(), 1);
    for (size_t a = t.shape.size(); a-- > 1;) t.stride[a - 1] = t.stride[a] * t.shape[a];
    t.bytes = answer_buf;
    t.region_begin = r.at;
    t.region_size = bytes;
    r.at += bytes;
    ck.tensors.push_back(std::move(t));
  }
  if (r.at != answer.size()) fail("the HDF5 reader's answer is malformed");
  return ck;
}

}  // namespace

extern const CheckpointReader kKerasH5Reader = {"Keras HDF5", recognises, read};

}  // namespace conv
}  // namespace capsrt
