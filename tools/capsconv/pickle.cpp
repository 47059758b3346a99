#include "pickle.hpp"

#include <cstring>
#include <unordered_map>

namespace capsrt {
namespace conv {

namespace {

// Limits (docs/reliability.md). Objects: one per opcode at most, about 320 bytes each, so the
// cap holds them under 200 MB (a state_dict of a thousand tensors makes some 20,000);
// references: items and entries over all containers (an OrderedDict REDUCE copies its list,
// which a hostile file can do again and again on the same list).
constexpr int kMaxDepth = 64;
constexpr size_t kMaxMemo = 1u << 22;
constexpr size_t kMaxStack = 1u << 22;
constexpr size_t kMaxObjects = 1u << 19;
constexpr size_t kMaxReferences = 1u << 21;

// The allow-list. Returns the canonical "module.name" or throws with the refused name.
std::string resolve_global(const std::string& module, const std::string& name) {
  const std::string full = module + "." + name;
  static const char* const kAllowed[] = {
      "collections.OrderedDict",           "torch._utils._rebuild_tensor_v2",
      "torch._utils._rebuild_tensor",      "torch._utils._rebuild_parameter",
      "torch._utils._rebuild_parameter_with_state", "torch._tensor._rebuild_from_type_v2",
      "torch.Size",                        "torch.Tensor",
      "torch.nn.parameter.Parameter",      "_codecs.encode",
      "builtins.set",                      "builtins.frozenset",
  };
  for (const char* a : kAllowed)
    if (full == a) return full;
  // Any torch storage type is recognised here; unsupported dtypes are refused when a tensor of
  // that type is actually needed (an optimizer's integer step counter must not stop a conversion).
  if (module == "torch" && name.size() > 7 && name.compare(name.size() - 7, 7, "Storage") == 0)
    return full;
  const bool looks_like_module_object =
      module == "__main__" || module.rfind("torch.nn", 0) == 0 ||
      (!name.empty() && name[0] >= 'A' && name[0] <= 'Z' && module != "os" && module != "posix" &&
       module != "subprocess" && module != "builtins" && module != "__builtin__");
  std::string msg = "refused pickle global '" + full +
                    "': capsconv only accepts the types a state_dict is made of";
  if (looks_like_module_object)
    msg += "; this looks like a whole pickled model (torch.save(model)): save model.state_dict() "
           "instead";
  throw CheckpointError(msg);
}

class Unpickler {
 public:
  Unpickler(const uint8_t* d, size_t n, const PersistentLoad& pl) : p_(d), end_(d + n), start_(d), pl_(pl) {}

  PyRef run(size_t* consumed) {
    for (;;) {
      const uint8_t op = byte();
      switch (op) {
        case 0x80: byte(); break;                  // PROTO
        case 0x95: bytes(8); break;                // FRAME (protocol 4)
        case '.': {                                // STOP
          if (stack_.size() != 1 || !marks_.empty()) fail("STOP with a malformed stack");
          if (consumed) *consumed = static_cast<size_t>(p_ - start_);
          return stack_.back();
        }
        case 'c': {                                // GLOBAL
          const std::string module = line(), name = line();
          push(make_str(PyKind::Global, resolve_global(module, name)));
          break;
        }
        case 0x93: {                               // STACK_GLOBAL
          PyRef name = pop(), module = pop();
          if (module->kind != PyKind::Str || name->kind != PyKind::Str) fail("STACK_GLOBAL needs two strings");
          push(make_str(PyKind::Global, resolve_global(module->text, name->text)));
          break;
        }
        case 'q': memo_put(byte()); break;         // BINPUT
        case 'r': memo_put(u32()); break;          // LONG_BINPUT
        case 0x94: memo_put(static_cast<uint32_t>(memo_.size())); break;  // MEMOIZE
        case 'h': push(memo_get(byte())); break;   // BINGET
        case 'j': push(memo_get(u32())); break;    // LONG_BINGET
        case '(': marks_.push_back(stack_.size()); break;  // MARK
        case '0': pop(); break;                             // POP
        case '1': pop_mark(); break;                        // POP_MARK
        case ')': push(make(PyKind::Tuple)); break;         // EMPTY_TUPLE
        case 't': push(container(PyKind::Tuple, pop_mark())); break;  // TUPLE
        case 0x85: case 0x86: case 0x87: {         // TUPLE1..3
          const size_t n = op - 0x84u;
          if (stack_.size() < n + base()) fail("TUPLE with too few items");
          std::vector<PyRef> items(stack_.end() - static_cast<long>(n), stack_.end());
          stack_.resize(stack_.size() - n);
          push(container(PyKind::Tuple, std::move(items)));
          break;
        }
        case ']': push(make(PyKind::List)); break;  // EMPTY_LIST
        case '}': push(make(PyKind::Dict)); break;  // EMPTY_DICT
        case 'a': {                                 // APPEND
          PyRef v = pop();
          add_items(top(), {v});
          break;
        }
        case 'e': {                                 // APPENDS
          std::vector<PyRef> items = pop_mark();
          add_items(top(), items);
          break;
        }
        case 's': {                                 // SETITEM
          PyRef v = pop(), k = pop();
          add_entries(top(), {k, v});
          break;
        }
        case 'u': {                                 // SETITEMS
          std::vector<PyRef> kv = pop_mark();
          if (kv.size() % 2) fail("SETITEMS with an odd number of items");
          add_entries(top(), kv);
          break;
        }
        case 'N': push(make(PyKind::None)); break;
        case 0x88: case 0x89: {                     // NEWTRUE, NEWFALSE
          auto b = make(PyKind::Bool);
          b->i = op == 0x88;
          push(b);
          break;
        }
        case 'K': push(make_int(byte())); break;    // BININT1
        case 'M': push(make_int(u16())); break;     // BININT2
        case 'J': push(make_int(static_cast<int32_t>(u32()))); break;  // BININT
        case 0x8a: {                                // LONG1
          const uint8_t n = byte();
          if (n > 8) fail("integer wider than 64 bits");
          const uint8_t* b = bytes(n);
          uint64_t v = 0;
          for (int k = n - 1; k >= 0; --k) v = (v << 8) | b[k];
          if (n > 0 && n < 8 && (b[n - 1] & 0x80)) v |= ~uint64_t{0} << (8 * n);  // sign-extend
          push(make_int(static_cast<int64_t>(v)));
          break;
        }
        case 'G': {                                 // BINFLOAT, big-endian double
          const uint8_t* b = bytes(8);
          uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits = (bits << 8) | b[k];
          auto f = make(PyKind::Float);
          std::memcpy(&f->f, &bits, 8);
          push(f);
          break;
        }
        case 'X': {                                 // BINUNICODE
          const uint32_t n = u32();
          push(make_str(PyKind::Str, text(n)));
          break;
        }
        case 0x8c: {                                // SHORT_BINUNICODE
          const uint8_t n = byte();
          push(make_str(PyKind::Str, text(n)));
          break;
        }
        case 'B': {                                 // BINBYTES
          const uint32_t n = u32();
          push(make_str(PyKind::Bytes, text(n)));
          break;
        }
        case 'C': {                                 // SHORT_BINBYTES
          const uint8_t n = byte();
          push(make_str(PyKind::Bytes, text(n)));
          break;
        }
        case 'Q': {                                 // BINPERSID
          PyRef pid = pop();
          if (!pl_) fail("persistent id without a storage table");
          push(pl_(pid));
          break;
        }
        case 'R': {                                 // REDUCE
          PyRef args = pop(), fn = pop();
          push(reduce(fn, args));
          break;
        }
        case 'b': pop(); break;                     // BUILD: object state (e.g. _metadata) is not needed
        case 0x81:                                  // NEWOBJ
        case 0x92:                                  // NEWOBJ_EX
          throw CheckpointError(
              "the pickle builds a Python object (NEWOBJ): this is a whole pickled model or "
              "another object, not a state_dict; save model.state_dict() instead");
        default: {
          char buf[96];
          std::snprintf(buf, sizeof buf, "refused pickle opcode 0x%02x ('%c') at byte %zu", op,
                        op >= 0x20 && op < 0x7f ? op : '?', static_cast<size_t>(p_ - start_ - 1));
          throw CheckpointError(buf);
        }
      }
    }
  }

 private:
  PyRef make(PyKind k) {
    if (++objects_ > kMaxObjects) fail("more than " + std::to_string(kMaxObjects) + " objects");
    auto o = std::make_shared<PyObj>();
    o->kind = k;
    return o;
  }
  PyRef make_int(int64_t v) {
    auto o = make(PyKind::Int);
    o->i = v;
    return o;
  }
  PyRef make_str(PyKind k, std::string s) {
    auto o = make(k);
    o->text = std::move(s);
    return o;
  }
  void count_references(size_t n) {
    references_ += n;
    if (references_ > kMaxReferences)
      fail("more than " + std::to_string(kMaxReferences) + " references in containers");
  }
  // Containers are filled only while no other container holds them (torch.save writes every
  // container completely before storing it), so a container's depth is final once it is held,
  // and no container can come to hold itself: depth stays exact and the graph acyclic.
  void adopt(const PyRef& parent, const PyRef& child) {
    if (child.get() == parent.get()) fail("a container that holds itself");
    if (child->depth + 1 > kMaxDepth) fail("objects nested too deeply");
    parent->depth = std::max(parent->depth, child->depth + 1);
    child->held = true;
  }
  void check_fillable(const PyRef& target) {
    if (target->held) fail("a container modified after it was stored in another");
  }
  [[noreturn]] void fail(const std::string& what) {
    throw CheckpointError("malformed pickle at byte " + std::to_string(p_ - start_) + ": " + what);
  }
  uint8_t byte() {
    if (p_ >= end_) fail("unexpected end of data");
    return *p_++;
  }
  const uint8_t* bytes(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) fail("unexpected end of data");
    const uint8_t* b = p_;
    p_ += n;
    return b;
  }
  uint16_t u16() {
    const uint8_t* b = bytes(2);
    return static_cast<uint16_t>(b[0] | b[1] << 8);
  }
  uint32_t u32() {
    const uint8_t* b = bytes(4);
    return uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
  }
  std::string text(size_t n) {
    const uint8_t* b = bytes(n);
    return std::string(reinterpret_cast<const char*>(b), n);
  }
  std::string line() {
    const uint8_t* nl = static_cast<const uint8_t*>(std::memchr(p_, '\n', static_cast<size_t>(end_ - p_)));
    if (nl == nullptr || nl - p_ > 256) fail("unterminated GLOBAL name");
    std::string s(reinterpret_cast<const char*>(p_), static_cast<size_t>(nl - p_));
    p_ = nl + 1;
    return s;
  }
  size_t base() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(PyRef v) {
    if (stack_.size() >= kMaxStack) fail("stack too deep");
    stack_.push_back(std::move(v));
  }
  PyRef pop() {
    if (stack_.size() <= base()) fail("pop from an empty stack");
    PyRef v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  PyRef& top() {
    if (stack_.size() <= base()) fail("no object to add items to");
    return stack_.back();
  }
  std::vector<PyRef> pop_mark() {
    if (marks_.empty()) fail("no MARK");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PyRef> items(stack_.begin() + static_cast<long>(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  void memo_put(uint32_t k) {
    if (stack_.empty()) fail("memo store from an empty stack");
    if (memo_.size() >= kMaxMemo) fail("memo too large");
    memo_[k] = stack_.back();
  }
  PyRef memo_get(uint32_t k) {
    auto it = memo_.find(k);
    if (it == memo_.end()) fail("memo key " + std::to_string(k) + " not defined");
    return it->second;
  }
  PyRef container(PyKind k, std::vector<PyRef> items) {
    auto c = make(k);
    count_references(items.size());
    for (const PyRef& v : items) adopt(c, v);
    c->items = std::move(items);
    return c;
  }
  void add_items(PyRef& target, const std::vector<PyRef>& items) {
    if (target->kind != PyKind::List) fail("APPEND to something that is not a list");
    check_fillable(target);
    count_references(items.size());
    for (const PyRef& v : items) {
      adopt(target, v);
      target->items.push_back(v);
    }
  }
  void add_entries(PyRef& target, const std::vector<PyRef>& kv) {
    if (target->kind != PyKind::Dict) fail("SETITEM on something that is not a dict");
    check_fillable(target);
    count_references(kv.size());
    for (size_t k = 0; k + 1 < kv.size(); k += 2) {
      adopt(target, kv[k]);
      adopt(target, kv[k + 1]);
      target->entries.emplace_back(kv[k], kv[k + 1]);
    }
  }

  static int64_t as_int(const PyRef& v, const char* what) {
    if (v->kind != PyKind::Int) throw CheckpointError(std::string("tensor ") + what + " is not an integer");
    return v->i;
  }
  static std::vector<int64_t> as_ints(const PyRef& v, const char* what) {
    if (v->kind != PyKind::Tuple && v->kind != PyKind::List)
      throw CheckpointError(std::string("tensor ") + what + " is not a tuple");
    std::vector<int64_t> out;
    for (const PyRef& x : v->items) out.push_back(as_int(x, what));
    return out;
  }

  PyRef reduce(const PyRef& fn, const PyRef& args) {
    if (fn->kind != PyKind::Global) fail("REDUCE on something that is not an allowed callable");
    if (args->kind != PyKind::Tuple) fail("REDUCE without an argument tuple");
    const std::string& f = fn->text;
    const auto& a = args->items;
    if (f == "collections.OrderedDict") {
      auto d = make(PyKind::Dict);
      if (!a.empty() && a[0]->kind == PyKind::List) {
        count_references(a[0]->items.size() * 2);
        for (const PyRef& pair : a[0]->items)
          if (pair->kind == PyKind::Tuple && pair->items.size() == 2) {
            adopt(d, pair->items[0]);
            adopt(d, pair->items[1]);
            d->entries.emplace_back(pair->items[0], pair->items[1]);
          }
      }
      return d;
    }
    if (f == "torch._utils._rebuild_tensor_v2" || f == "torch._utils._rebuild_tensor") {
      if (a.size() < 4 || a[0]->kind != PyKind::Storage)
        throw CheckpointError("malformed tensor record: expected (storage, offset, size, stride, ...)");
      auto t = make(PyKind::Tensor);
      t->tensor.storage = a[0];
      t->tensor.offset = as_int(a[1], "storage offset");
      t->tensor.size = as_ints(a[2], "size");
      t->tensor.stride = as_ints(a[3], "stride");
      if (t->tensor.size.size() != t->tensor.stride.size())
        throw CheckpointError("malformed tensor record: size and stride differ in length");
      return t;
    }
    if (f == "torch._utils._rebuild_parameter" || f == "torch._utils._rebuild_parameter_with_state") {
      if (a.empty() || a[0]->kind != PyKind::Tensor) fail("parameter without a tensor");
      return a[0];
    }
    if (f == "torch._tensor._rebuild_from_type_v2") {  // (func, type, args, state)
      if (a.size() < 3) fail("_rebuild_from_type_v2 needs (func, type, args)");
      return reduce(a[0], a[2]);
    }
    if (f == "torch.Size") return a.empty() ? make(PyKind::Tuple) : a[0];
    if (f == "_codecs.encode") {
      if (a.empty() || a[0]->kind != PyKind::Str) fail("_codecs.encode needs a string");
      return make_str(PyKind::Bytes, a[0]->text);
    }
    if (f == "builtins.set" || f == "builtins.frozenset") return make(PyKind::Ignored);
    throw CheckpointError("refused call of '" + f + "' in the pickle");
  }

  const uint8_t* p_;
  const uint8_t* end_;
  const uint8_t* start_;
  const PersistentLoad& pl_;
  std::vector<PyRef> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint32_t, PyRef> memo_;
  size_t objects_ = 0, references_ = 0;
};

}  // namespace

PyObj::~PyObj() {
  // Frees a deep tree without recursing: children this object alone keeps are taken apart here,
  // one at a time (their own destructors then find them empty).
  if (items.empty() && entries.empty()) return;
  std::vector<PyRef> pending;
  auto take = [&pending](PyObj& o) {
    for (PyRef& c : o.items) pending.push_back(std::move(c));
    for (auto& kv : o.entries) {
      pending.push_back(std::move(kv.first));
      pending.push_back(std::move(kv.second));
    }
    o.items.clear();
    o.entries.clear();
  };
  take(*this);
  while (!pending.empty()) {
    PyRef c = std::move(pending.back());
    pending.pop_back();
    if (c && c.use_count() == 1) take(*c);
  }
}

PyRef unpickle(const uint8_t* data, size_t size, const PersistentLoad& persistent_load, size_t* consumed) {
  Unpickler u(data, size, persistent_load);
  return u.run(consumed);
}

std::string describe(const PyRef& v) {
  switch (v->kind) {
    case PyKind::None: return "None";
    case PyKind::Bool: return v->i ? "True" : "False";
    case PyKind::Int: return std::to_string(v->i);
    case PyKind::Float: return std::to_string(v->f);
    case PyKind::Str: return "'" + v->text.substr(0, 60) + "'";
    case PyKind::Bytes: return "bytes";
    case PyKind::Tuple: return "tuple of " + std::to_string(v->items.size());
    case PyKind::List: return "list of " + std::to_string(v->items.size());
    case PyKind::Dict: return "dict with " + std::to_string(v->entries.size()) + " keys";
    case PyKind::Global: return v->text;
    case PyKind::Storage: return "storage";
    case PyKind::Tensor: return "tensor";
    case PyKind::Ignored: return "object";
  }
  return "?";
}

}  // namespace conv
}  // namespace capsrt
