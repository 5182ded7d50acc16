// torch.save's data.pkl without libtorch (torch_zip.h is the contract): a stack machine over an
// arena of values (indices, not pointers: no recursive destruction, no reference cycles). GLOBAL
// resolves to a fixed whitelist at once, so a refused name fails before anything else happens;
// REDUCE only "calls" whitelisted callables, which here just build plain values. The zip around
// it is torch_zip.cpp.
#include "models/torch_zip.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <utility>

#include "util/error.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "torch storages are read in place");

namespace ghx::models {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& msg) { throw Error(path + ": " + msg); }

std::string hex_byte(unsigned v) {
  const char* d = "0123456789abcdef";
  return std::string("0x") + d[(v >> 4) & 15] + d[v & 15];
}


using Ref = std::uint32_t;

enum class Kind {
  none,
  boolean,
  integer,
  real,
  string,
  tuple,
  list,
  dict,
  ordered_dict_class,
  rebuild_tensor,
  rebuild_parameter,
  storage_class,
  dtype,
  storage,
  tensor,
  script_class,   // a TorchScript module class (__torch__.*): data only, nothing to run
  script_object,  // an instance of one; items: its attributes (key, value, ...) after BUILD
  jit_helper      // torch.jit._pickle.build_*list / restore_type_tag: returns its first argument
};

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::none:
      return "None";
    case Kind::boolean:
      return "a bool";
    case Kind::integer:
      return "an int";
    case Kind::real:
      return "a float";
    case Kind::string:
      return "a string";
    case Kind::tuple:
      return "a tuple";
    case Kind::list:
      return "a list";
    case Kind::dict:
      return "a dict";
    case Kind::ordered_dict_class:
      return "collections.OrderedDict";
    case Kind::rebuild_tensor:
      return "torch._utils._rebuild_tensor_v2";
    case Kind::rebuild_parameter:
      return "torch._utils._rebuild_parameter";
    case Kind::storage_class:
      return "a storage class";
    case Kind::dtype:
      return "a dtype";
    case Kind::storage:
      return "a storage";
    case Kind::tensor:
      return "a tensor";
    case Kind::script_class:
      return "a TorchScript class";
    case Kind::script_object:
      return "a TorchScript module";
    case Kind::jit_helper:
      return "a torch.jit._pickle function";
  }
  return "?";
}

struct Value {
  Kind kind = Kind::none;
  std::int64_t i = 0;  // integer, boolean; storage: numel; tensor: storage offset
  double f = 0.0;
  std::string s;                            // string; storage: key
  std::vector<Ref> items;                   // tuple, list; dict: key, value, key, value, ...
  Dtype dtype = Dtype::f32;                 // storage_class, dtype, storage, tensor
  Ref storage = 0;                          // tensor
  std::vector<std::int64_t> shape, stride;  // tensor
};

struct GlobalName {
  const char* module;
  const char* name;
  Kind kind;
  Dtype dtype;
};

// Everything a state dict's pickle may name. Anything else is refused, never resolved.
const GlobalName k_globals[] = {
    {"collections", "OrderedDict", Kind::ordered_dict_class, Dtype::f32},
    {"torch._utils", "_rebuild_tensor_v2", Kind::rebuild_tensor, Dtype::f32},
    {"torch._utils", "_rebuild_parameter", Kind::rebuild_parameter, Dtype::f32},
    {"torch", "FloatStorage", Kind::storage_class, Dtype::f32},
    {"torch", "DoubleStorage", Kind::storage_class, Dtype::f64},
    {"torch", "HalfStorage", Kind::storage_class, Dtype::f16},
    {"torch", "BFloat16Storage", Kind::storage_class, Dtype::bf16},
    {"torch", "LongStorage", Kind::storage_class, Dtype::i64},
    {"torch", "IntStorage", Kind::storage_class, Dtype::i32},
    {"torch", "ShortStorage", Kind::storage_class, Dtype::i16},
    {"torch", "CharStorage", Kind::storage_class, Dtype::i8},
    {"torch", "ByteStorage", Kind::storage_class, Dtype::u8},
    {"torch", "BoolStorage", Kind::storage_class, Dtype::boolean},
    {"torch", "float32", Kind::dtype, Dtype::f32},
    {"torch", "float", Kind::dtype, Dtype::f32},
    {"torch", "float64", Kind::dtype, Dtype::f64},
    {"torch", "double", Kind::dtype, Dtype::f64},
    {"torch", "float16", Kind::dtype, Dtype::f16},
    {"torch", "half", Kind::dtype, Dtype::f16},
    {"torch", "bfloat16", Kind::dtype, Dtype::bf16},
    {"torch", "int64", Kind::dtype, Dtype::i64},
    {"torch", "long", Kind::dtype, Dtype::i64},
    {"torch", "int32", Kind::dtype, Dtype::i32},
    {"torch", "int", Kind::dtype, Dtype::i32},
    {"torch", "int16", Kind::dtype, Dtype::i16},
    {"torch", "short", Kind::dtype, Dtype::i16},
    {"torch", "int8", Kind::dtype, Dtype::i8},
    {"torch", "uint8", Kind::dtype, Dtype::u8},
    {"torch", "bool", Kind::dtype, Dtype::boolean},
};

class Unpickler {
 public:
  // `storage_bytes(key)` gives the size of ARCHIVE/data/<key>, or throws.
  Unpickler(std::string path, const unsigned char* p, std::size_t n,
            const std::map<std::string, const ZipEntry*>& storages)
      : m_path(std::move(path)), m_p(p), m_n(n), m_storages(storages) {}

  std::map<std::string, TensorInfo> run();

 private:
  [[noreturn]] void bad(const std::string& msg) const {
    fail(m_path, "data.pkl: " + msg + " (at byte " + std::to_string(m_op_pos) + ")");
  }
  const unsigned char* take(std::size_t n) {
    if (m_n - m_pos < n) bad("truncated pickle");
    const unsigned char* p = m_p + m_pos;
    m_pos += n;
    return p;
  }
  std::uint64_t take_le(int n) { return read_le(take(static_cast<std::size_t>(n)), n); }
  std::string take_line() {
    const std::size_t start = m_pos;
    while (m_pos < m_n && m_p[m_pos] != '\n') ++m_pos;
    if (m_pos == m_n) bad("truncated pickle (GLOBAL without newline)");
    std::string s(reinterpret_cast<const char*>(m_p + start), m_pos - start);
    ++m_pos;
    return s;
  }
  Ref make(Value v) {
    if (m_heap.size() >= std::numeric_limits<Ref>::max() - 1) bad("too many objects");
    m_heap.push_back(std::move(v));
    return static_cast<Ref>(m_heap.size() - 1);
  }
  Ref make_kind(Kind k) {
    Value v;
    v.kind = k;
    return make(std::move(v));
  }
  Ref make_int(std::int64_t i) {
    Value v;
    v.kind = Kind::integer;
    v.i = i;
    return make(std::move(v));
  }
  Ref make_string(std::size_t n) {
    Value v;
    v.kind = Kind::string;
    v.s.assign(reinterpret_cast<const char*>(take(n)), n);
    return make(std::move(v));
  }
  Ref pop() {
    if (m_stack.size() <= floor()) bad("stack underflow");
    Ref r = m_stack.back();
    m_stack.pop_back();
    return r;
  }
  Ref& top() {
    if (m_stack.size() <= floor()) bad("stack underflow");
    return m_stack.back();
  }
  std::size_t floor() const { return m_marks.empty() ? 0 : m_marks.back(); }
  std::vector<Ref> pop_mark() {
    if (m_marks.empty()) bad("MARK expected");
    const std::size_t m = m_marks.back();
    m_marks.pop_back();
    std::vector<Ref> items(m_stack.begin() + static_cast<std::ptrdiff_t>(m), m_stack.end());
    m_stack.resize(m);
    return items;
  }
  Ref tuple(std::vector<Ref> items) {
    Value v;
    v.kind = Kind::tuple;
    v.items = std::move(items);
    return make(std::move(v));
  }
  Value& at(Ref r) { return m_heap[r]; }
  Ref global(const std::string& module, const std::string& name);
  Ref reduce(Ref callable, Ref args);
  Ref persistent_load(Ref pid);
  /// A TorchScript module's tensors, named by their attribute path ("visual.conv1.weight");
  /// other attributes (flags, ints, strings) are skipped.
  void flatten(Ref obj, const std::string& prefix, std::vector<std::pair<std::string, Ref>>& out, int depth,
               std::size_t& budget) {
    if (depth > 64) bad("TorchScript modules nested more than 64 deep");
    const std::vector<Ref> items = at(obj).items;
    for (std::size_t i = 0; i + 1 < items.size(); i += 2) {
      if (budget-- == 0) bad("TorchScript module with more than a million attributes");
      if (at(items[i]).kind != Kind::string) continue;
      const std::string name = prefix + at(items[i]).s;
      const Kind k = at(items[i + 1]).kind;
      if (k == Kind::tensor) out.emplace_back(name, items[i + 1]);
      if (k == Kind::script_object) flatten(items[i + 1], name + ".", out, depth + 1, budget);
    }
  }
  std::vector<std::int64_t> int_tuple(Ref r, const char* what);
  void put(std::uint64_t index, Ref r) {
    if (index > 0xffffffffu) bad("memo index too large");
    m_memo[static_cast<std::uint32_t>(index)] = r;
  }
  Ref get(std::uint64_t index) {
    auto it = m_memo.find(static_cast<std::uint32_t>(index));
    if (index > 0xffffffffu || it == m_memo.end())
      bad("memo entry " + std::to_string(index) + " read before it was written");
    return it->second;
  }
  std::int64_t as_int(Ref r, const char* what) {
    if (at(r).kind != Kind::integer && at(r).kind != Kind::boolean)
      bad(std::string(what) + " is " + kind_name(at(r).kind) + ", an int expected");
    return at(r).i;
  }

  std::string m_path;
  const unsigned char* m_p;
  std::size_t m_n;
  std::size_t m_pos = 0;
  std::size_t m_op_pos = 0;
  const std::map<std::string, const ZipEntry*>& m_storages;
  std::vector<Value> m_heap;
  std::vector<Ref> m_stack;
  std::vector<std::size_t> m_marks;
  std::unordered_map<std::uint32_t, Ref> m_memo;
};

Ref Unpickler::global(const std::string& module, const std::string& name) {
  // torch.jit.save: modules are instances of generated classes, rebuilt here as attribute dicts.
  if (module.compare(0, 9, "__torch__") == 0 && (module.size() == 9 || module[9] == '.')) {
    Value v;
    v.kind = Kind::script_class;
    v.s = module + "." + name;
    return make(std::move(v));
  }
  if (module == "torch.jit._pickle" &&
      (name == "build_intlist" || name == "build_floatlist" || name == "build_boollist" || name == "build_doublelist" ||
       name == "build_tensorlist" || name == "restore_type_tag"))
    return make_kind(Kind::jit_helper);
  for (const GlobalName& g : k_globals) {
    if (module == g.module && name == g.name) {
      Value v;
      v.kind = g.kind;
      v.dtype = g.dtype;
      return make(std::move(v));
    }
  }
  // Named, never imported: this is where a malicious pickle (os.system, builtins.eval, ...) stops.
  bad("refusing global '" + module + "." + name +
      "': a state dict only names collections.OrderedDict, torch._utils._rebuild_tensor_v2 / "
      "_rebuild_parameter, torch storage types and TorchScript classes (a pickle can otherwise run code)");
}

std::vector<std::int64_t> Unpickler::int_tuple(Ref r, const char* what) {
  if (at(r).kind != Kind::tuple && at(r).kind != Kind::list)
    bad(std::string(what) + " is " + kind_name(at(r).kind) + ", a tuple expected");
  std::vector<std::int64_t> out;
  const std::vector<Ref> items = at(r).items;
  for (Ref x : items) out.push_back(as_int(x, what));
  return out;
}

Ref Unpickler::persistent_load(Ref pid) {
  // ('storage', storage_type, key, location, numel)
  const Value& t = at(pid);
  if (t.kind != Kind::tuple || t.items.size() != 5 || at(t.items[0]).kind != Kind::string ||
      at(t.items[0]).s != "storage")
    bad("persistent id is not ('storage', type, key, location, numel)");
  const Value& type = at(t.items[1]);
  if (type.kind != Kind::storage_class && type.kind != Kind::dtype)
    bad("persistent id names " + std::string(kind_name(type.kind)) + ", a storage type expected");
  if (at(t.items[2]).kind != Kind::string) bad("storage key is not a string");
  Value s;
  s.kind = Kind::storage;
  s.dtype = type.dtype;
  s.s = at(t.items[2]).s;
  s.i = as_int(t.items[4], "storage size");
  if (s.i < 0) bad("storage '" + s.s + "' has a negative size");
  auto it = m_storages.find(s.s);
  if (it == m_storages.end()) bad("storage '" + s.s + "' has no entry data/" + s.s + " in the archive");
  const std::uint64_t need = static_cast<std::uint64_t>(s.i);
  if (need > it->second->size / dtype_size(s.dtype))
    bad("storage '" + s.s + "' holds " + std::to_string(it->second->size) + " bytes, " + std::to_string(s.i) +
        " elements of " + dtype_name(s.dtype) + " need " + std::to_string(need * dtype_size(s.dtype)));
  return make(std::move(s));
}

Ref Unpickler::reduce(Ref callable, Ref args_ref) {
  const Kind k = at(callable).kind;
  if (at(args_ref).kind != Kind::tuple) bad("REDUCE arguments are not a tuple");
  const std::vector<Ref> args = at(args_ref).items;
  switch (k) {
    case Kind::ordered_dict_class:
      if (!args.empty()) bad("collections.OrderedDict called with arguments");
      return make_kind(Kind::dict);
    case Kind::jit_helper:
      if (args.empty()) bad("torch.jit._pickle function called without arguments");
      return args[0];
    case Kind::rebuild_parameter:
      // (data, requires_grad, backward_hooks): the tensor itself.
      if (args.empty() || at(args[0]).kind != Kind::tensor) bad("torch._utils._rebuild_parameter without a tensor");
      return args[0];
    case Kind::rebuild_tensor: {
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      if (args.size() < 4 || at(args[0]).kind != Kind::storage)
        bad("torch._utils._rebuild_tensor_v2 with unexpected arguments");
      Value t;
      t.kind = Kind::tensor;
      t.storage = args[0];
      t.dtype = at(args[0]).dtype;
      t.i = as_int(args[1], "storage offset");
      t.shape = int_tuple(args[2], "tensor size");
      t.stride = int_tuple(args[3], "tensor stride");
      return make(std::move(t));
    }
    default:
      bad(std::string("REDUCE on ") + kind_name(k) + ", which is not callable here");
  }
}

std::map<std::string, TensorInfo> Unpickler::run() {
  for (;;) {
    m_op_pos = m_pos;
    const unsigned op = *take(1);
    switch (op) {
      case 0x80: {  // PROTO
        const unsigned v = *take(1);
        if (v > 5) bad("pickle protocol " + std::to_string(v) + " is not supported");
        break;
      }
      case 0x95:
        take(8);
        break;     // FRAME: framing is only a read-ahead hint
      case '.': {  // STOP
        if (m_stack.size() != 1 || !m_marks.empty()) bad("STOP with a malformed stack");
        const Value& root = at(m_stack.back());
        std::vector<std::pair<std::string, Ref>> named;  // key, tensor
        if (root.kind == Kind::script_object) {
          std::size_t budget = 1u << 20;
          flatten(m_stack.back(), "", named, 0, budget);
        } else if (root.kind == Kind::dict) {
          for (std::size_t i = 0; i + 1 < root.items.size(); i += 2) {
            const Value& key = at(root.items[i]);
            const Value& val = at(root.items[i + 1]);
            if (key.kind != Kind::string)
              bad(std::string("a top-level key is ") + kind_name(key.kind) + ", not a string");
            if (val.kind != Kind::tensor)
              fail(m_path, "top-level key '" + key.s + "' holds " + kind_name(val.kind) +
                               ", not a tensor (only a flat state dict of tensors is read; a "
                               "checkpoint wrapping one must be re-saved as its state dict)");
            named.emplace_back(key.s, root.items[i + 1]);
          }
        } else {
          bad(std::string("the pickle holds ") + kind_name(root.kind) + ", a state dict (dict of tensors) expected");
        }
        std::map<std::string, TensorInfo> out;
        for (const auto& entry : named) {
          const std::string& name = entry.first;  // a structured binding cannot be captured (C++17)
          const Value& val = at(entry.second);
          const Value& st = at(val.storage);
          auto bad_key = [&](const std::string& msg) { fail(m_path, "tensor '" + name + "': " + msg); };
          if (val.shape.size() != val.stride.size()) bad_key("size and stride have different lengths");
          std::uint64_t numel = 1;
          for (std::int64_t d : val.shape) {
            if (d < 0) bad_key("negative dimension");
            if (d != 0 && numel > (std::numeric_limits<std::uint64_t>::max() >> 4) / d) bad_key("shape is too large");
            numel *= static_cast<std::uint64_t>(d);
          }
          if (numel != 0) {
            std::int64_t want = 1;
            for (std::size_t d = val.shape.size(); d-- > 0;) {
              if (val.shape[d] != 1 && val.stride[d] != want) {
                std::string sz, sd;
                for (std::size_t j = 0; j < val.shape.size(); ++j) {
                  sz += (j ? ", " : "") + std::to_string(val.shape[j]);
                  sd += (j ? ", " : "") + std::to_string(val.stride[j]);
                }
                bad_key("not contiguous (size [" + sz + "], stride [" + sd + "]): save tensor.contiguous() instead");
              }
              want *= val.shape[d];
            }
          }
          if (val.i < 0) bad_key("negative storage offset");
          if (static_cast<std::uint64_t>(val.i) > static_cast<std::uint64_t>(st.i) ||
              numel > static_cast<std::uint64_t>(st.i) - static_cast<std::uint64_t>(val.i))
            bad_key("storage offset " + std::to_string(val.i) + " + " + std::to_string(numel) +
                    " elements exceed its storage '" + st.s + "' of " + std::to_string(st.i));
          TensorInfo t;
          t.dtype = val.dtype;
          t.shape = val.shape;
          const std::size_t es = dtype_size(val.dtype);
          t.begin = static_cast<std::size_t>(m_storages.at(st.s)->data_offset + static_cast<std::uint64_t>(val.i) * es);
          t.end = t.begin + static_cast<std::size_t>(numel * es);
          if (!out.emplace(name, std::move(t)).second) fail(m_path, "tensor '" + name + "' appears twice");
        }
        return out;
      }
      case '(':
        m_marks.push_back(m_stack.size());
        break;  // MARK
      case '}':
        m_stack.push_back(make_kind(Kind::dict));
        break;
      case ']':
        m_stack.push_back(make_kind(Kind::list));
        break;
      case ')':
        m_stack.push_back(tuple({}));
        break;
      case 'X':
        m_stack.push_back(make_string(take_le(4)));
        break;  // BINUNICODE
      case 0x8c:
        m_stack.push_back(make_string(take_le(1)));
        break;  // SHORT_BINUNICODE
      case 0x8d:
        m_stack.push_back(make_string(take_le(8)));
        break;  // BINUNICODE8
      case 'U':
        m_stack.push_back(make_string(take_le(1)));
        break;  // SHORT_BINSTRING
      case 'C':
        m_stack.push_back(make_string(take_le(1)));
        break;     // SHORT_BINBYTES
      case 'T':    // BINSTRING
      case 'B': {  // BINBYTES
        const std::uint64_t n = take_le(4);
        if (op == 'T' && n > 0x7fffffffu) bad("negative string length");
        m_stack.push_back(make_string(n));
        break;
      }
      case 'J':
        m_stack.push_back(make_int(static_cast<std::int32_t>(take_le(4))));
        break;
      case 'K':
        m_stack.push_back(make_int(static_cast<std::int64_t>(take_le(1))));
        break;
      case 'M':
        m_stack.push_back(make_int(static_cast<std::int64_t>(take_le(2))));
        break;
      case 0x8a:    // LONG1
      case 0x8b: {  // LONG4
        const std::uint64_t n = op == 0x8a ? take_le(1) : take_le(4);
        if (n > 8) bad("integer of " + std::to_string(n) + " bytes does not fit in 64 bits");
        const unsigned char* b = take(static_cast<std::size_t>(n));
        std::uint64_t v = read_le(b, static_cast<int>(n));
        if (n > 0 && n < 8 && (b[n - 1] & 0x80)) v |= ~std::uint64_t{0} << (8 * n);  // sign
        m_stack.push_back(make_int(static_cast<std::int64_t>(v)));
        break;
      }
      case 'G': {  // BINFLOAT: big-endian double
        const unsigned char* b = take(8);
        std::uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | b[i];
        Value v;
        v.kind = Kind::real;
        std::memcpy(&v.f, &bits, 8);
        m_stack.push_back(make(std::move(v)));
        break;
      }
      case 'N':
        m_stack.push_back(make_kind(Kind::none));
        break;
      case 0x88:
      case 0x89: {  // NEWTRUE, NEWFALSE
        Value v;
        v.kind = Kind::boolean;
        v.i = op == 0x88;
        m_stack.push_back(make(std::move(v)));
        break;
      }
      case 't':
        m_stack.push_back(tuple(pop_mark()));
        break;
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1..3
        std::vector<Ref> items(op - 0x84);
        for (std::size_t i = items.size(); i-- > 0;) items[i] = pop();
        m_stack.push_back(tuple(std::move(items)));
        break;
      }
      case 's': {  // SETITEM
        const Ref v = pop(), k = pop();
        Value& d = at(top());
        if (d.kind != Kind::dict) bad(std::string("SETITEM on ") + kind_name(d.kind));
        d.items.push_back(k);
        d.items.push_back(v);
        break;
      }
      case 'u': {  // SETITEMS
        std::vector<Ref> kv = pop_mark();
        Value& d = at(top());
        if (d.kind != Kind::dict) bad(std::string("SETITEMS on ") + kind_name(d.kind));
        if (kv.size() % 2 != 0) bad("SETITEMS with an odd number of items");
        d.items.insert(d.items.end(), kv.begin(), kv.end());
        break;
      }
      case 'a': {  // APPEND
        const Ref v = pop();
        Value& l = at(top());
        if (l.kind != Kind::list) bad(std::string("APPEND on ") + kind_name(l.kind));
        l.items.push_back(v);
        break;
      }
      case 'e': {  // APPENDS
        std::vector<Ref> vs = pop_mark();
        Value& l = at(top());
        if (l.kind != Kind::list) bad(std::string("APPENDS on ") + kind_name(l.kind));
        l.items.insert(l.items.end(), vs.begin(), vs.end());
        break;
      }
      case 'q':
        put(take_le(1), top());
        break;  // BINPUT
      case 'r':
        put(take_le(4), top());
        break;  // LONG_BINPUT
      case 0x94:
        put(m_memo.size(), top());
        break;  // MEMOIZE
      case 'h':
        m_stack.push_back(get(take_le(1)));
        break;  // BINGET
      case 'j':
        m_stack.push_back(get(take_le(4)));
        break;  // LONG_BINGET
      case '0':
        pop();
        break;  // POP
      case '1':
        pop_mark();
        break;  // POP_MARK
      case '2':
        m_stack.push_back(top());
        break;     // DUP
      case 'c': {  // GLOBAL
        const std::string module = take_line();
        const std::string name = take_line();
        m_stack.push_back(global(module, name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        const Ref name = pop(), module = pop();
        if (at(name).kind != Kind::string || at(module).kind != Kind::string)
          bad("STACK_GLOBAL without module and name strings");
        m_stack.push_back(global(at(module).s, at(name).s));
        break;
      }
      case 'R': {  // REDUCE
        const Ref args = pop(), callable = pop();
        m_stack.push_back(reduce(callable, args));
        break;
      }
      case 0x81: {  // NEWOBJ: cls.__new__(cls, *args); OrderedDict, or a TorchScript module
        const Ref args = pop(), cls = pop();
        if (at(cls).kind == Kind::script_class) {
          Value o;
          o.kind = Kind::script_object;
          o.s = at(cls).s;
          m_stack.push_back(make(std::move(o)));
          break;
        }
        if (at(cls).kind != Kind::ordered_dict_class) bad(std::string("NEWOBJ on ") + kind_name(at(cls).kind));
        m_stack.push_back(reduce(cls, args));
        break;
      }
      case 'b': {  // BUILD: a module's attributes; the state of an OrderedDict (its _metadata): ignored
        const Ref state = pop();
        const Kind k = at(top()).kind;
        if (k == Kind::script_object) {
          if (at(state).kind != Kind::dict) bad(std::string("TorchScript module state is ") + kind_name(at(state).kind));
          std::vector<Ref> attrs = at(state).items;
          at(top()).items = std::move(attrs);
          break;
        }
        if (k != Kind::dict && k != Kind::tensor) bad(std::string("BUILD on ") + kind_name(k));
        break;
      }
      case 'Q': {  // BINPERSID
        const Ref pid = pop();
        m_stack.push_back(persistent_load(pid));
        break;
      }
      default:
        bad("unsupported pickle opcode " + hex_byte(op) + " (not something torch.save writes for a state dict)");
    }
  }
}

}  // namespace

std::map<std::string, TensorInfo> unpickle_state_dict(const std::string& path, const unsigned char* pickle,
                                                      std::size_t size,
                                                      const std::map<std::string, const ZipEntry*>& storages) {
  Unpickler u(path, pickle, size, storages);
  return u.run();
}

}  // namespace ghx::models
