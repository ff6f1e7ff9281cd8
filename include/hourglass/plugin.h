/* The hourglass plugin ABI: a plain C boundary between the engine and term plugins (losses, regularizers,
 * corruptions). Only C types cross it, so a plugin built by another compiler or C++ standard library works.
 * A plugin exports `hourglass_plugin`, returning a table whose first field is the ABI version; the engine
 * refuses any other version and names both. Errors come back as a non-zero return plus a message. */
#ifndef HOURGLASS_PLUGIN_H
#define HOURGLASS_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HG_PLUGIN_ABI_VERSION 1
#define HG_PLUGIN_ENTRY_POINT "hourglass_plugin"
#define HG_MAX_RANK 4

/* A dense row-major f32 tensor. For activations dims[0] is the batch. A scalar has rank 0. */
typedef struct hg_tensor {
  float* data;
  int32_t rank;
  int64_t dims[HG_MAX_RANK];
} hg_tensor;

typedef enum hg_term_kind {
  HG_TERM_LOSS = 1,        /* compares a prediction with a target */
  HG_TERM_REGULARIZER = 2, /* a penalty on an activation or a parameter */
  HG_TERM_CORRUPTION = 3   /* maps a tensor to a same-shaped one while training; identity in evaluation */
} hg_term_kind;

typedef enum hg_param_type { HG_PARAM_FLOAT = 1, HG_PARAM_INT = 2 } hg_param_type;

typedef struct hg_param_spec {
  const char* name;
  hg_param_type type;
  double default_value;
  double min_value; /* inclusive bounds the engine checks before calling the term */
  double max_value;
  const char* help;
} hg_param_spec;

/* Services the engine lends to plugins, so their loops run on whichever threading the engine chose. */
typedef void (*hg_range_fn)(void* context, int64_t begin, int64_t end);
typedef struct hg_host {
  /* Calls body over [begin, end) in chunks of at least `grain`; chunking is deterministic for a thread count.
   */
  void (*parallel_for)(int64_t begin, int64_t end, int64_t grain, void* context, hg_range_fn body);
  int32_t num_threads;
} hg_host;

/* One invocation of a term. `params` holds the values of the term's parameters in spec order. */
typedef struct hg_term_call {
  const hg_host* host;
  const double* params;
  int32_t num_inputs;
  const hg_tensor* inputs;
  uint64_t seed; /* differs per step; corruptions derive all randomness from it */
  /* 1 in a training step, and when the runner shows what a denoising network is fed (`show recon`); 0 in
     evaluation, encode and export. A corruption's apply is only called with 1: in evaluation the engine
     copies its input through without calling the plugin. Loss and regularizer terms see the same flag. */
  int32_t training;
  char* error; /* on failure write a message here (NUL-terminated, at most error_size bytes) */
  size_t error_size;
} hg_term_call;

/* Return 0 on success. `value` terms (losses, regularizers) produce a scalar. `gradient` adds
 * scale * d value / d input[i] into diff_inputs[i] for every i whose diff_inputs[i].data is non-NULL.
 * Corruptions implement `apply` (dst = corrupt(input[0])) and `apply_gradient`
 * (diff_input += d corrupt / d input * diff_dst), seeing the same seed as the matching `apply`. */
typedef struct hg_term {
  const char* name; /* the name after the plugin's namespace: "bce" in loss.bce */
  hg_term_kind kind;
  int32_t num_inputs;
  const char* const* input_names;
  int32_t num_params;
  const hg_param_spec* params;
  const char* help;
  int (*value)(const hg_term_call* call, double* value);
  int (*gradient)(const hg_term_call* call, float scale, hg_tensor* diff_inputs);
  int (*apply)(const hg_term_call* call, hg_tensor* dst);
  int (*apply_gradient)(const hg_term_call* call, const hg_tensor* diff_dst, hg_tensor* diff_input);
} hg_term;

typedef struct hg_plugin {
  uint32_t
      abi_version; /* always HG_PLUGIN_ABI_VERSION of the headers the plugin was built with; first field */
  const char* name_space; /* terms are named name_space.term in graph files, e.g. "loss" */
  const char* version;
  int32_t num_terms;
  const hg_term* terms;
} hg_plugin;

typedef const hg_plugin* (*hg_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* HOURGLASS_PLUGIN_H */
