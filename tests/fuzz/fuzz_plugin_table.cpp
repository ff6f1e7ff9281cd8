// libFuzzer harness: bytes as the plugin table an entry point hands over, through the loader's checks
// (abi_mismatch, then read_plugin_table), in process. Raw bytes cannot be pointers, so the harness reads a
// recipe: each field's value, whether each pointer is NULL, a valid name or a string from the input, struct
// sizes and array strides. The arrays are allocated for the largest stride the loader accepts, so any
// out-of-bounds read is the loader's, and ASan reports it.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "plugin/table_check.h"

namespace {

struct Recipe {
  const uint8_t* data;
  size_t size;
  template <class T>
  T take() {  // zero once the input is used up
    T value{};
    const size_t n = size < sizeof(T) ? size : sizeof(T);
    std::memcpy(&value, data, n);
    data += n, size -= n;
    return value;
  }
};

int value(const hg_term_call*, double*) {
  return 0;
}
int gradient(const hg_term_call*, float, hg_tensor*) {
  return 0;
}
int apply(const hg_term_call*, hg_tensor*) {
  return 0;
}
int apply_gradient(const hg_term_call*, const hg_tensor*, hg_tensor*) {
  return 0;
}
int create(const hg_term_call*, void**) {
  return 0;
}
void destroy(void*) {}

// Keeps every string and array the table points to alive for one run.
struct Arena {
  std::deque<std::string> strings;  // a deque never moves its elements, so c_str() stays valid
  std::vector<std::vector<unsigned char>> blocks;
  const char* string(Recipe& r) {
    switch (r.take<uint8_t>() % 4) {
      case 0:
        return nullptr;
      case 1:
        return "good_name";
      default: {
        std::string s;
        for (uint8_t n = r.take<uint8_t>() % 12; n > 0; --n) s += char(r.take<uint8_t>());
        strings.push_back(s.c_str());  // up to its first NUL
        return strings.back().c_str();
      }
    }
  }
  // Room for `count` elements at the largest stride the loader accepts (4096).
  unsigned char* block(size_t count) {
    blocks.emplace_back(count * 4096 + 4096, 0);
    return blocks.back().data();
  }
};

// The declared struct_size: usually the true one, sometimes anything.
uint32_t struct_size(Recipe& r, size_t real) {
  const uint8_t choice = r.take<uint8_t>();
  return choice < 192 ? uint32_t(real) : r.take<uint16_t>();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Recipe r{data, size};
  Arena arena;
  hg_plugin plugin{};
  plugin.abi_major = r.take<uint8_t>() < 224 ? HG_PLUGIN_ABI_VERSION_MAJOR : r.take<uint32_t>();
  plugin.abi_minor = r.take<uint8_t>();
  plugin.struct_size = struct_size(r, sizeof(hg_plugin));
  plugin.name_space = arena.string(r);
  plugin.version = arena.string(r);
  plugin.num_terms = int8_t(r.take<uint8_t>()) % 6;
  const uint32_t term_stride = struct_size(r, sizeof(hg_term));
  unsigned char* terms = arena.block(6);
  for (int32_t i = 0; i < plugin.num_terms; ++i) {
    hg_term t{};
    t.struct_size = i == 0 || r.take<uint8_t>() < 240 ? term_stride : r.take<uint16_t>();
    t.name = arena.string(r);
    t.kind = int8_t(r.take<uint8_t>()) % 5;
    t.num_inputs = int8_t(r.take<uint8_t>()) % 6;
    const uint8_t pointers = r.take<uint8_t>();
    auto* names = reinterpret_cast<const char**>(arena.block(1));
    auto* kinds = reinterpret_cast<uint32_t*>(arena.block(1));
    for (int k = 0; k < 5; ++k) names[k] = arena.string(r), kinds[k] = r.take<uint8_t>() % 20;
    t.input_names = pointers & 1 ? names : nullptr;
    t.input_kinds = pointers & 2 ? kinds : nullptr;
    t.value = pointers & 4 ? value : nullptr;
    t.gradient = pointers & 8 ? gradient : nullptr;
    t.apply = pointers & 16 ? apply : nullptr;
    t.apply_gradient = pointers & 32 ? apply_gradient : nullptr;
    t.create = pointers & 64 ? create : nullptr;
    t.destroy = pointers & 128 ? destroy : nullptr;
    t.num_params = int8_t(r.take<uint8_t>()) % 4;
    const uint32_t param_stride = struct_size(r, sizeof(hg_param_spec));
    unsigned char* params = arena.block(4);
    for (int32_t p = 0; p < t.num_params; ++p) {
      hg_param_spec s{};
      s.struct_size = param_stride;
      s.name = arena.string(r);
      s.type = r.take<uint8_t>() % 4;
      s.default_value = r.take<double>();
      s.min_value = r.take<double>();
      s.max_value = r.take<double>();
      std::memcpy(params + size_t(param_stride) * size_t(p) % (4 * 4096), &s, sizeof s);
    }
    t.params = r.take<uint8_t>() < 240 ? reinterpret_cast<const hg_param_spec*>(params) : nullptr;
    std::memcpy(terms + size_t(term_stride) * size_t(i) % (6 * 4096), &t, sizeof t);
  }
  plugin.terms = r.take<uint8_t>() < 240 ? reinterpret_cast<const hg_term*>(terms) : nullptr;
  if (!hg::abi_mismatch(plugin).empty()) return 0;
  hg::PluginTable table;
  hg::read_plugin_table(plugin, table);
  return 0;
}
