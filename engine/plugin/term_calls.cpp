// Calls into plugin terms on the per-step hot path. Each call lends the plugin a stack buffer for its error
// message, so a successful call allocates nothing; a failure, or an exception that escaped a non-conforming
// plugin, becomes hg::Error at the graph node that uses the term.
#include <exception>
#include <string>

#include "plugin/registry.h"

namespace hg {

namespace {

constexpr size_t kErrorBufferSize = 512;

[[noreturn]] void term_failed(const TermRef& term, const SourceLocation& where, const std::string& message) {
  throw Error(where, "term '" + term.full_name + "' (plugin " + term.plugin_path + ") failed: " + message);
}

// Runs `invoke` (one call through the term's table) and turns its failure into hg::Error.
template <class Invoke>
void checked_call(const TermRef& term, hg_term_call& call, const SourceLocation& where, Invoke&& invoke) {
  char error[kErrorBufferSize];
  error[0] = '\0';
  call.struct_size = sizeof call;
  call.error = error;
  call.error_size = sizeof error;
  int status = 0;
  try {
    status = invoke();
  } catch (const std::exception& e) {
    term_failed(term, where,
                std::string(e.what()) +
                    " (the exception escaped the plugin: wrap the term in hourglass::plugin::guarded)");
  } catch (...) {
    term_failed(term, where, "an unknown exception escaped the plugin");
  }
  if (status == 0) return;
  error[sizeof error - 1] = '\0';  // a plugin may fill the buffer without terminating it
  term_failed(term, where, error[0] ? error : "the plugin returned an error without a message");
}

}  // namespace

TermState::~TermState() {
  if (state_) term_.term->destroy(state_);
}

std::shared_ptr<TermState> create_term_state(const TermRef& term, hg_term_call call,
                                             const SourceLocation& where) {
  HG_ASSERT(term.term, "term '" + term.full_name + "' is not resolved");
  void* state = nullptr;
  if (term.term->create) checked_call(term, call, where, [&] { return term.term->create(&call, &state); });
  return std::make_shared<TermState>(term, state);
}

double call_term_value(const TermRef& term, hg_term_call call, const SourceLocation& where) {
  HG_ASSERT(term.term && term.term->value, "term '" + term.full_name + "' has no value function");
  double value = 0;
  checked_call(term, call, where, [&] { return term.term->value(&call, &value); });
  return value;
}

void call_term_gradient(const TermRef& term, hg_term_call call, float scale, hg_tensor* diff_inputs,
                        const SourceLocation& where) {
  HG_ASSERT(term.term && term.term->gradient, "term '" + term.full_name + "' has no gradient function");
  checked_call(term, call, where, [&] { return term.term->gradient(&call, scale, diff_inputs); });
}

void call_term_apply(const TermRef& term, hg_term_call call, hg_tensor* dst, const SourceLocation& where) {
  HG_ASSERT(term.term && term.term->apply, "term '" + term.full_name + "' has no apply function");
  checked_call(term, call, where, [&] { return term.term->apply(&call, dst); });
}

void call_term_apply_gradient(const TermRef& term, hg_term_call call, const hg_tensor* diff_dst,
                              hg_tensor* diff_input, const SourceLocation& where) {
  HG_ASSERT(term.term && term.term->apply_gradient,
            "term '" + term.full_name + "' has no apply_gradient function");
  checked_call(term, call, where, [&] { return term.term->apply_gradient(&call, diff_dst, diff_input); });
}

}  // namespace hg
