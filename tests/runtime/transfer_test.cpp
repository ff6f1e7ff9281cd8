// Weight transfer: map rules, the plan they give (same names by default, `*` captures), the errors that name
// both sides, and end to end an autoencoder's encoder copied into a classifier's first layer.
#include <doctest/doctest.h>

#include <cstring>

#include "mnist_fixture.h"
#include "runtime/checkpoint.h"
#include "runtime/transfer.h"
#include "test_skip.h"

using namespace hg;

namespace {

const std::vector<NamedShape> kAutoencoder = {{"enc1.weights", {500, 784}},
                                              {"enc1.bias", {500}},
                                              {"dec.weights", {784, 500}},
                                              {"dec.bias", {784}},
                                              {"__optimizer__.state0.enc1.weights", {500, 784}}};
const std::vector<NamedShape> kClassifier = {
    {"fc1.weights", {500, 784}}, {"fc1.bias", {500}}, {"out.weights", {10, 500}}, {"out.bias", {10}}};

std::vector<MapRule> rules(std::initializer_list<const char*> texts) {
  std::vector<MapRule> out;
  for (const char* t : texts) out.push_back(parse_map_rule(t));
  return out;
}

std::string loads(const TransferPlan& plan) {
  std::string out;
  for (const auto& l : plan.loads) out += l.source + "->" + l.target + " " + shape_string(l.shape) + "; ";
  return out;
}

std::string error_of(const std::vector<NamedShape>& stored, const std::vector<NamedShape>& parameters,
                     const std::vector<MapRule>& map) {
  try {
    plan_transfer("ae.safetensors", stored, parameters, map);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

std::string parse_error(const std::string& text) {
  try {
    parse_map_rule(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("map rules are source->target with one '*' on both sides or on neither") {
  const MapRule r = parse_map_rule("enc1.*->fc1.*");
  CHECK(r.source == "enc1.*");
  CHECK(r.target == "fc1.*");
  CHECK(parse_map_rule("enc1.weights->fc1.weights").target == "fc1.weights");
  CHECK(parse_error("enc1.*") ==
        "--map 'enc1.*': error: a map rule is 'source->target', for example 'enc1.*->fc1.*'");
  CHECK(parse_error("a->b->c").find("a map rule is 'source->target'") != std::string::npos);
  CHECK(parse_error("->fc1.*").find("both sides of a map rule need a name or a glob") != std::string::npos);
  CHECK(parse_error("*.*->*") == "--map '*.*->*': error: each side of a map rule may have one '*'");
  CHECK(parse_error("enc1.*->fc1.weights") ==
        "--map 'enc1.*->fc1.weights': error: 'enc1.*' and 'fc1.weights' need a '*' on both sides or on "
        "neither: the "
        "source's '*' text fills the target's");
}

TEST_CASE("without rules, every tensor loads into the parameter of the same name") {
  const std::vector<NamedShape> stored = {{"fc1.weights", {500, 784}},
                                          {"fc1.bias", {500}},
                                          {"other", {3}},
                                          {"__optimizer__.state0.fc1.bias", {500}}};
  const TransferPlan plan = plan_transfer("ae.safetensors", stored, kClassifier, {});
  CHECK(loads(plan) == "fc1.weights->fc1.weights [500, 784]; fc1.bias->fc1.bias [500]; ");
  CHECK(plan.untouched == std::vector<std::string>{"out.weights", "out.bias"});
  CHECK(
      error_of(kAutoencoder, kClassifier, {}) ==
      "ae.safetensors: error: no tensor has the name of a parameter of the graph; map names with --map "
      "'source.*->target.*'\nae.safetensors: note: it holds enc1.weights, enc1.bias, dec.weights, dec.bias");
}

TEST_CASE(
    "a '*' rule carries the captured text over; an exact rule maps one name; optimizer state never moves") {
  TransferPlan plan = plan_transfer("ae.safetensors", kAutoencoder, kClassifier, rules({"enc1.*->fc1.*"}));
  CHECK(loads(plan) == "enc1.weights->fc1.weights [500, 784]; enc1.bias->fc1.bias [500]; ");
  CHECK(plan.untouched == std::vector<std::string>{"out.weights", "out.bias"});
  plan = plan_transfer("ae.safetensors", kAutoencoder, kClassifier, rules({"enc1.bias->fc1.bias"}));
  CHECK(loads(plan) == "enc1.bias->fc1.bias [500]; ");
  plan =
      plan_transfer("ae.safetensors", kAutoencoder, kClassifier, rules({"enc1.*->fc1.*", "enc1.*->fc1.*"}));
  CHECK(plan.loads.size() == 2);  // a repeated rule is harmless
  const std::vector<NamedShape> same = {{"fc1.weights", {500, 784}},
                                        {"__optimizer__.state0.fc1.weights", {500, 784}}};
  CHECK(loads(plan_transfer("ae.safetensors", same, kClassifier, rules({"*->*"}))) ==
        "fc1.weights->fc1.weights [500, 784]; ");
}

TEST_CASE("transfer errors name both sides") {
  CHECK(
      error_of(kAutoencoder, kClassifier, rules({"enc2.*->fc2.*"})) ==
      "--map 'enc2.*->fc2.*': error: 'enc2.*' matches no tensor in ae.safetensors (did you mean 'enc1.*'?)\n"
      "ae.safetensors: note: it holds enc1.weights, enc1.bias, dec.weights, dec.bias");
  CHECK(error_of(kAutoencoder, kClassifier, rules({"enc1.*->fc2.*"})) ==
        "--map 'enc1.*->fc2.*': error: 'enc1.weights' would load into 'fc2.weights', which the graph does "
        "not have "
        "(did you mean 'fc1.weights' or 'out.weights'?)");
  const std::vector<NamedShape> wide = {{"fc1.weights", {1000, 784}}, {"fc1.bias", {1000}}};
  CHECK(
      error_of(kAutoencoder, wide, rules({"enc1.*->fc1.*"})) ==
      "--map 'enc1.*->fc1.*': error: enc1.weights [500, 784] -> fc1.weights [1000, 784]: the shapes differ");
  CHECK(error_of({{"fc1.weights", {1000, 784}}}, kClassifier, {}) ==
        "ae.safetensors: error: fc1.weights [1000, 784] -> fc1.weights [500, 784]: the shapes differ");
  const std::vector<NamedShape> two = {{"a.weights", {500, 784}}, {"b.weights", {500, 784}}};
  CHECK(error_of(two, kClassifier, rules({"a.*->fc1.*", "b.*->fc1.*"})) ==
        "--map 'b.*->fc1.*': error: 'a.weights' and 'b.weights' both map to 'fc1.weights'\n"
        "--map 'a.*->fc1.*': note: 'a.weights' maps there by this rule");
}

TEST_CASE("a classifier's fc1 starts from a pretrained autoencoder's code layer, and can stay frozen there") {
  if (!test::have_mnist()) return test::skip_test("MNIST is not fetched: run scripts/fetch-data.sh");
  const std::string ae_path = test::write_graph(
      "transfer_ae.graph",
      std::string(test::kMnistData) +
          "input x : [784] <- image\ncode = dense(x, 32) |> sigmoid\nrecon = dense(code, 784) |> sigmoid\n"
          "loss = loss.bce(recon, x)\ntrain { optimizer = adam(lr=0.003) batch = 50 epochs = 1 seed = 2 }\n");
  const std::string classifier_path = test::write_graph(
      "transfer_classifier.graph",
      std::string(test::kMnistData) +
          "input x : [784] <- image\ninput y : [10] <- label\nfc1 = dense(x, 32) |> sigmoid\n"
          "logits = dense(fc1, 10)\nloss = loss.softmax_ce(logits, y)\n"
          "train { optimizer = adam(lr=0.003) batch = 50 epochs = 1 seed = 9 }\n");
  Model autoencoder(ae_path, {});
  test::train_slice(autoencoder, 600);
  const std::string checkpoint = test::scratch_path("transfer_ae.safetensors");
  save_checkpoint(checkpoint, autoencoder);

  Model classifier(classifier_path, ModelOptions{{}, {}, {"fc1.*"}});
  Model fresh(classifier_path, {});
  const TransferPlan plan = initialize_from(checkpoint, classifier, {parse_map_rule("code.*->fc1.*")});
  CHECK(loads(plan) == "code.weights->fc1.weights [32, 784]; code.bias->fc1.bias [32]; ");
  CHECK(plan.untouched == std::vector<std::string>{"logits.weights", "logits.bias"});
  ParameterStore &ae = autoencoder.parameters, &clf = classifier.parameters;
  auto same = [](ParameterStore& a, const std::string& a_name, ParameterStore& b, const std::string& b_name) {
    const ParameterSlot *sa = a.slot(a_name), *sb = b.slot(b_name);
    return sa->count == sb->count && std::memcmp(a.values() + sa->offset, b.values() + sb->offset,
                                                 sizeof(float) * size_t(sa->count)) == 0;
  };
  CHECK(same(clf, "fc1.weights", ae, "code.weights"));
  CHECK(same(clf, "fc1.bias", ae, "code.bias"));
  CHECK(
      same(clf, "logits.weights", fresh.parameters, "logits.weights"));  // left at its seeded initialization

  // Fine-tuning with fc1 frozen moves only the new layer.
  test::train_slice(classifier, 600);
  CHECK(same(clf, "fc1.weights", ae, "code.weights"));
  CHECK_FALSE(same(clf, "logits.weights", fresh.parameters, "logits.weights"));
}
