// torch.save's zip archive (torch >= 1.6): <name>/data.pkl, the pickled state_dict whose
// storages are persistent ids, and <name>/data/<key>, each storage's raw little-endian bytes.
// Read through libzip from memory; every entry's stated size is only a claim.
#include <zip.h>

#include <algorithm>

#include "torch_state_dict.hpp"

namespace capsrt {
namespace conv {

namespace {

constexpr uint64_t kMaxEntryBytes = uint64_t{4} << 30;     // 4 GiB: far beyond any CapsNet
constexpr uint64_t kMaxPickleBytes = uint64_t{256} << 20;  // data.pkl of a state_dict: kilobytes

struct ZipArchive {
  zip_t* z = nullptr;
  ~ZipArchive() {
    if (z) zip_discard(z);
  }
};

// An entry's bytes, read in chunks as they come out of the archive: the central directory's
// stated size is only a claim (a 741-byte file may state 4 GiB), so memory grows with the data
// actually inflated (deflate expands at most about 1032:1) and never past `cap`, the size the
// caller expects (for a storage: numel x element size from its pickle record).
std::vector<uint8_t> read_entry(zip_t* z, zip_int64_t index, const std::string& name, uint64_t cap) {
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(z, static_cast<zip_uint64_t>(index), 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
    throw CheckpointError("zip entry " + name + ": cannot read its size: " + zip_strerror(z));
  if (st.size > cap)
    throw CheckpointError("zip entry " + name + " claims " + std::to_string(st.size) +
                          " bytes, more than the " + std::to_string(cap) + " it may hold");
  zip_file_t* f = zip_fopen_index(z, static_cast<zip_uint64_t>(index), 0);
  if (!f) throw CheckpointError("zip entry " + name + ": " + zip_strerror(z));
  constexpr size_t kChunk = size_t{1} << 20;
  std::vector<uint8_t> out;
  std::string err;
  // Read up to one byte past the stated size: EOF there is what makes libzip check the CRC.
  for (;;) {
    const size_t have = out.size();
    const uint64_t want = std::min<uint64_t>(kChunk, st.size + 1 - have);
    out.resize(have + static_cast<size_t>(want));
    const zip_int64_t got = zip_fread(f, out.data() + have, want);
    if (got < 0) {
      err = zip_file_strerror(f);
      out.resize(have);
      break;
    }
    out.resize(have + static_cast<size_t>(got));
    if (got == 0 || out.size() > st.size) break;
  }
  zip_fclose(f);
  if (!err.empty()) throw CheckpointError("zip entry " + name + ": " + err);
  if (out.size() > st.size) throw CheckpointError("zip entry " + name + ": entry longer than its stated size");
  if (out.size() != st.size)
    throw CheckpointError("zip entry " + name + ": stated size " + std::to_string(st.size) +
                          " bytes, but only " + std::to_string(out.size()) + " could be read");
  return out;
}

Checkpoint read(const FileBytes& file) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(file->data(), file->size(), 0, &err);
  if (!src) throw CheckpointError(std::string("zip: ") + zip_error_strerror(&err));
  ZipArchive ar;
  ar.z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err);
  if (!ar.z) {
    const std::string msg = zip_error_strerror(&err);
    zip_source_free(src);
    zip_error_fini(&err);
    throw CheckpointError("not a readable zip archive (truncated or damaged?): " + msg);
  }
  const zip_int64_t n = zip_get_num_entries(ar.z, 0);
  if (n <= 0) throw CheckpointError("empty zip archive");
  std::map<std::string, zip_int64_t> entries;
  for (zip_int64_t k = 0; k < n; ++k) {
    const char* name = zip_get_name(ar.z, static_cast<zip_uint64_t>(k), ZIP_FL_ENC_RAW);
    if (!name) throw CheckpointError(std::string("zip: ") + zip_strerror(ar.z));
    entries[name] = k;
  }
  const std::string first = zip_get_name(ar.z, 0, ZIP_FL_ENC_RAW);
  const size_t slash = first.find('/');
  if (slash == std::string::npos) throw CheckpointError("zip archive without torch's folder layout (entry " + first + ")");
  const std::string prefix = first.substr(0, slash + 1);
  const auto code = entries.lower_bound(prefix + "code/");
  const bool has_code = code != entries.end() && code->first.rfind(prefix + "code/", 0) == 0;
  if (entries.count(prefix + "constants.pkl") || has_code)
    throw CheckpointError("this is a TorchScript archive (torch.jit.save), not a state_dict: "
                          "save model.state_dict() with torch.save instead");
  auto pkl = entries.find(prefix + "data.pkl");
  if (pkl == entries.end()) throw CheckpointError("zip archive has no " + prefix + "data.pkl: not a torch.save file");
  const std::vector<uint8_t> pickle = read_entry(ar.z, pkl->second, pkl->first, kMaxPickleBytes);

  torch::Storages storages;
  const PersistentLoad load = [&](const PyRef& pid) {
    StorageRef s = torch::parse_storage_pid(pid);
    if (!storages.count(s.key)) {
      const std::string name = prefix + "data/" + s.key;
      auto e = entries.find(name);
      if (e == entries.end()) throw CheckpointError("storage " + name + " is missing from the archive");
      // The record says how large the storage is: no more is read (unknown dtypes, which no
      // conversion uses, are held to the general cap).
      const torch::DtypeInfo di = torch::storage_dtype(s.type);
      uint64_t cap = kMaxEntryBytes;
      if (di.size != 0 && s.numel >= 0 && uint64_t(s.numel) <= kMaxEntryBytes / di.size)
        cap = uint64_t(s.numel) * di.size;
      storages[s.key] = std::make_shared<const std::vector<uint8_t>>(read_entry(ar.z, e->second, name, cap));
    }
    return torch::storage_obj(s);
  };
  const PyRef top = unpickle(pickle.data(), pickle.size(), load);
  Checkpoint ck;
  torch::collect_state_dict(top, storages, ck);
  return ck;
}

bool recognises(const std::vector<uint8_t>& b) { return b.size() >= 4 && b[0] == 'P' && b[1] == 'K'; }

}  // namespace

const CheckpointReader kTorchZipReader = {"torch zip archive", recognises, read};

}  // namespace conv
}  // namespace capsrt
