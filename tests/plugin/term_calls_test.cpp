// Calling into terms: a good plugin's four entry points, and every way a term can fail (a guarded throw, an
// exception escaping the C boundary, a non-zero return with or without a message), each reported as hg::Error
// at the graph node, naming the term and its plugin file.
#include <dlfcn.h>
#include <doctest/doctest.h>

#include "plugin/registry.h"
#include "plugin/test_host.h"

using namespace hg;
using namespace hg::test;

namespace {

const SourceLocation kNode{"model.graph", 12, 5};

// The message of the hg::Error that `run` throws; fails the test when it does not throw one at kNode.
template <class Run>
std::string error_of(Run&& run) {
  try {
    run();
  } catch (const Error& e) {
    REQUIRE(e.diagnostics().size() == 1);
    CHECK(e.diagnostics()[0].where.str() == kNode.str());
    return e.what();
  }
  FAIL("expected hg::Error");
  return "";
}

std::string failure(const std::string& term, const std::string& file, const std::string& message) {
  return "model.graph:12:5: error: term '" + term + "' (plugin " + fixture(file) + ") failed: " + message;
}

struct Fixture {
  PluginRegistry registry;
  std::vector<float> src = {1, -2, 3, 0};
  std::vector<float> diff = {0, 0, 0, 0};
  std::vector<hg_tensor> inputs = {view(src, {2, 2})};
  hg_tensor diff_view = view(diff, {2, 2});

  explicit Fixture(const std::string& file) {
    registry.load_file(fixture(file));
    REQUIRE(registry.load_errors().empty());
  }
  const TermRef& term(const char* name) {
    const TermRef* found = registry.find(name);
    REQUIRE(found);
    return *found;
  }
};

}  // namespace

TEST_CASE("a good regularizer's value and gradient, and a corruption's apply and apply_gradient") {
  Fixture f("good/hg_test_good.so");
  const std::vector<double> weight = {2.0};
  CHECK(call_term_value(f.term("test.l1"), make_call(f.inputs, weight), kNode) == 12.0);
  call_term_gradient(f.term("test.l1"), make_call(f.inputs, weight), 0.5f, &f.diff_view, kNode);
  CHECK(f.diff == std::vector<float>{1, -1, 1, 0});

  std::vector<float> dst(4);
  hg_tensor dst_view = view(dst, {2, 2});
  call_term_apply(f.term("test.flip"), make_call(f.inputs, {}), &dst_view, kNode);
  CHECK(dst == std::vector<float>{-1, 2, -3, 0});
  call_term_apply_gradient(f.term("test.flip"), make_call(f.inputs, {}), &dst_view, &f.diff_view, kNode);
  CHECK(f.diff == std::vector<float>{2, -3, 4, 0});
}

TEST_CASE(
    "an exception thrown inside guarded() comes back as hg::Error at the node, naming term and plugin") {
  Fixture f("throwing/hg_test_throwing.so");
  const TermRef& term = f.term("throwing.guarded");
  CHECK(error_of([&] { call_term_value(term, make_call(f.inputs, {}), kNode); }) ==
        failure("throwing.guarded", "throwing/hg_test_throwing.so", "the term exploded"));
  CHECK(error_of([&] { call_term_gradient(term, make_call(f.inputs, {}), 1.0f, &f.diff_view, kNode); }) ==
        failure("throwing.guarded", "throwing/hg_test_throwing.so", "gradient exploded too"));
}

TEST_CASE("an exception escaping a non-conforming plugin is still caught and reported") {
  Fixture f("throwing/hg_test_throwing.so");
  const TermRef& term = f.term("throwing.escaping");
  CHECK(error_of([&] { call_term_value(term, make_call(f.inputs, {}), kNode); }) ==
        failure("throwing.escaping", "throwing/hg_test_throwing.so",
                "escaped from the plugin (the exception escaped the plugin: wrap the term in "
                "hourglass::plugin::guarded)"));
  CHECK(error_of([&] { call_term_gradient(term, make_call(f.inputs, {}), 1.0f, &f.diff_view, kNode); }) ==
        failure("throwing.escaping", "throwing/hg_test_throwing.so",
                "an unknown exception escaped the plugin"));
}

TEST_CASE("a non-zero return becomes hg::Error with the plugin's message, or says there was none") {
  Fixture f("failing/hg_test_failing.so");
  const std::string file = "failing/hg_test_failing.so";
  const std::vector<double> rate = {2.5};
  CHECK(error_of([&] { call_term_value(f.term("failing.status"), make_call(f.inputs, rate), kNode); }) ==
        failure("failing.status", file, "rate must be below 1, got 2.5"));
  CHECK(error_of([&] {
          call_term_gradient(f.term("failing.status"), make_call(f.inputs, rate), 1.0f, &f.diff_view, kNode);
        }) == failure("failing.status", file, "the plugin returned an error without a message"));
  std::vector<float> dst(4);
  hg_tensor dst_view = view(dst, {2, 2});
  CHECK(error_of([&] {
          call_term_apply(f.term("failing.corrupt"), make_call(f.inputs, {}), &dst_view, kNode);
        }) == failure("failing.corrupt", file, "cannot corrupt"));
  CHECK(error_of([&] {
          call_term_apply_gradient(f.term("failing.corrupt"), make_call(f.inputs, {}), &dst_view,
                                   &f.diff_view, kNode);
        }) == failure("failing.corrupt", file, "the plugin returned an error without a message"));
}

TEST_CASE("a term's state is created with the input shapes, passed to each call, and destroyed once") {
  PluginRegistry registry;
  const std::string file = fixture("stateful/hg_test_stateful.so");
  registry.load_file(file);
  REQUIRE(registry.load_errors().empty());
  const TermRef& counter = *registry.find("stateful.counter");
  void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_NOLOAD);
  REQUIRE(handle);
  auto live_states = reinterpret_cast<int (*)()>(dlsym(handle, "hg_test_live_states"));
  REQUIRE(static_cast<bool>(live_states));
  std::vector<float> src(6);  // its values do not matter to create, only its shape
  const std::vector<hg_tensor> inputs = {view(src, {2, 3})};
  {
    std::shared_ptr<TermState> first = create_term_state(counter, make_call(inputs, {}), kNode);
    std::shared_ptr<TermState> second = create_term_state(counter, make_call(inputs, {}), kNode);
    CHECK(live_states() == 2);
    hg_term_call call = make_call(inputs, {});
    call.state = first->get();
    CHECK(call_term_value(counter, call, kNode) == 6001);
    CHECK(call_term_value(counter, call, kNode) == 6002);
    call.state = second->get();
    CHECK(call_term_value(counter, call, kNode) == 6001);  // each use has its own
  }
  CHECK(live_states() == 0);
  dlclose(handle);
}

TEST_CASE("a term without create gets no state and destroys nothing") {
  Fixture f("good/hg_test_good.so");
  std::shared_ptr<TermState> state = create_term_state(f.term("test.l1"), make_call(f.inputs, {1.0}), kNode);
  CHECK(state->get() == nullptr);
}
