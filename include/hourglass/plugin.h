/* The hourglass plugin ABI: a plain C boundary between the engine and term plugins (losses, regularizers,
 * corruptions). Only C types cross it, so a plugin built by another compiler or C++ standard library works.
 * A plugin exports `hourglass_plugin`, returning a table whose first field is the ABI's major version; the
 * engine refuses any other major version and names both. Errors come back as a non-zero return plus a
 * message.
 *
 * Versioning. A major version changes the layout; a minor version only appends fields to the end of
 * structs. So every struct that crosses the boundary starts with (or, for hg_plugin, holds right after the
 * versions) `struct_size`, the sizeof the side that filled it was built with: the engine reads a plugin's
 * struct only up to its struct_size and treats fields beyond it as zero, and a plugin tests with
 * HG_HAS_FIELD that a field of an engine struct exists before reading it. A field added in a minor version
 * means "as before" when zero. Arrays of plugin structs (terms, parameters) are walked with the stride of
 * their elements' struct_size, which must be the same for all of them. hg_tensor is the exception: the
 * engine hands arrays of it to plugins, which index them with their own sizeof, so it is fixed for all of
 * ABI 2 and has no struct_size.
 *
 * Threading contract.
 * - The engine calls a term's functions (create, value, gradient, apply, apply_gradient, destroy) from one
 *   thread at a time per term instance, but different instances of the same term (two uses in a graph, two
 *   plans, two models in one process) may be called at once from different threads. So a term must keep
 *   mutable state in its per-term `state` (see create), never in globals.
 * - hg_host.parallel_for runs the body over chunks on the engine's math threads: bodies run concurrently,
 *   in any order, and must only write what their own chunk owns. The chunk boundaries depend only on
 *   (begin, end, grain), never on the thread count, so a reduction kept per chunk is deterministic.
 * - The host's services may be called from the calling thread; inside a parallel_for body they run
 *   serially on that body's thread (no nested teams).
 * - Exceptions, longjmp and C++ unwinding never cross the C boundary: neither out of a term's function nor
 *   out of a parallel_for body. hourglass/plugin.hpp's `guarded` and `parallel_for` take care of both for
 *   C++ plugins. The engine still survives an escaped exception but reports it as the plugin's bug. */
#ifndef HOURGLASS_PLUGIN_H
#define HOURGLASS_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HG_PLUGIN_ABI_VERSION_MAJOR 2
#define HG_PLUGIN_ABI_VERSION_MINOR 0
#define HG_PLUGIN_ENTRY_POINT "hourglass_plugin"
#define HG_MAX_RANK 4

/* Whether `field` of the struct at `ptr` (of type `type`) lies within its struct_size: a struct filled by a
   side built against an older minor version lacks the fields added since. */
#define HG_HAS_FIELD(ptr, type, field) \
  ((ptr)->struct_size >= offsetof(type, field) + sizeof(((const type*)0)->field))

/* A dense row-major f32 tensor. For activations dims[0] is the batch. A scalar has rank 0. */
typedef struct hg_tensor {
  float* data;
  int32_t rank;
  int64_t dims[HG_MAX_RANK];
} hg_tensor;

/* hg_term.kind */
#define HG_TERM_LOSS 1        /* compares a prediction with a target */
#define HG_TERM_REGULARIZER 2 /* a penalty on an activation or a parameter */
#define HG_TERM_CORRUPTION 3  /* maps a tensor to a same-shaped one while training; identity in evaluation */

/* hg_param_spec.type */
#define HG_PARAM_FLOAT 1
#define HG_PARAM_INT 2

/* What a term's input may be: a mask of these, one per input (hg_term.input_kinds). The graph's lowering
   refuses a term argument of another kind, at the argument, before anything runs. */
#define HG_INPUT_ACTIVATION 1u /* a value the network computes (batched) */
#define HG_INPUT_PARAMETER 2u  /* a trained tensor, such as code.weights (not batched) */
#define HG_INPUT_TARGET 4u     /* a data input the network reproduces or is compared with (`<- image`) */
#define HG_INPUT_LABEL 8u      /* a one-hot label input (`<- label`) */
#define HG_INPUT_ANY 15u

typedef struct hg_param_spec {
  uint32_t struct_size; /* sizeof(hg_param_spec) */
  const char* name;
  int32_t type; /* HG_PARAM_FLOAT or HG_PARAM_INT */
  double default_value;
  double min_value; /* inclusive bounds the engine checks before calling the term */
  double max_value;
  const char* help;
} hg_param_spec;

/* Services the engine lends to plugins, so their loops run on whichever threading the engine chose. */
typedef void (*hg_range_fn)(void* context, int64_t begin, int64_t end);
typedef struct hg_host {
  uint32_t struct_size; /* sizeof(hg_host) of the engine */
  /* Calls body over [begin, end) in chunks of at least `grain`; chunking is deterministic for a thread count.
   */
  void (*parallel_for)(int64_t begin, int64_t end, int64_t grain, void* context, hg_range_fn body);
  int32_t num_threads;
  /* Row-major C = alpha * op(A) op(B) + beta * C with op(A) (m,k), op(B) (k,n), C (m,n); trans_a / trans_b
     'T' transposes, 'N' does not; lda, ldb, ldc are row strides. oneDNN's f32 GEMM on the math threads: the
     result is the same bits on every call with the same thread count. Returns 0, or non-zero for invalid
     arguments (C is then untouched). */
  int32_t (*sgemm)(char trans_a, char trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                   int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
} hg_host;

/* One invocation of a term. `params` holds the values of the term's parameters in spec order. */
typedef struct hg_term_call {
  uint32_t struct_size; /* sizeof(hg_term_call) of the engine */
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
  void* state; /* what the term's create returned for this use of the term; NULL without create */
} hg_term_call;

/* Return 0 on success. `value` terms (losses, regularizers) produce a scalar. `gradient` adds
 * scale * d value / d input[i] into diff_inputs[i] for every i whose diff_inputs[i].data is non-NULL.
 * Corruptions implement `apply` (dst = corrupt(input[0])) and `apply_gradient`
 * (diff_input += d corrupt / d input * diff_dst), seeing the same seed as the matching `apply`.
 *
 * Per-term state (optional, both or neither): `create` is called once per use of the term in a plan, when
 * the plan is built, with the inputs' shapes (their data is not yet meaningful), the parameters and the
 * host; it sets *state to a workspace that every later call of that use sees in call->state. `destroy`
 * releases it when the plan goes, and is never called for a create that failed. */
typedef struct hg_term {
  uint32_t struct_size; /* sizeof(hg_term) */
  const char* name;     /* the name after the plugin's namespace: "bce" in loss.bce */
  int32_t kind;         /* HG_TERM_LOSS, HG_TERM_REGULARIZER or HG_TERM_CORRUPTION */
  int32_t num_inputs;
  const char* const* input_names;
  const uint32_t* input_kinds; /* num_inputs masks of HG_INPUT_* */
  int32_t num_params;
  const hg_param_spec* params;
  const char* help;
  int (*value)(const hg_term_call* call, double* value);
  int (*gradient)(const hg_term_call* call, float scale, hg_tensor* diff_inputs);
  int (*apply)(const hg_term_call* call, hg_tensor* dst);
  int (*apply_gradient)(const hg_term_call* call, const hg_tensor* diff_dst, hg_tensor* diff_input);
  int (*create)(const hg_term_call* call, void** state);
  void (*destroy)(void* state);
} hg_term;

typedef struct hg_plugin {
  /* HG_PLUGIN_ABI_VERSION_MAJOR of the headers the plugin was built with: the first field in every ABI, so
     the engine can read it before it knows the layout of the rest */
  uint32_t abi_major;
  uint32_t abi_minor;
  uint32_t struct_size;   /* sizeof(hg_plugin) */
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
