// Seeded splits and subsets: determinism, disjointness, stratification, balance, nesting across n, class
// restriction with relabelling, and the per-feature statistics of standardize/minmax.
#include <algorithm>
#include <map>
#include <set>

#include "data_fixture.h"

using namespace hg;
using namespace hg::test;

namespace {

// n samples of one feature (the sample's index), labels of every class, unevenly.
Dataset labelled(int64_t n, int32_t classes) {
  Dataset d;
  d.count = n;
  d.item_dims = {1};
  d.dtype = DType::F32;
  d.pixels.resize(size_t(n) * 4);
  for (int64_t i = 0; i < n; ++i) {
    const float v = float(i);
    std::memcpy(d.pixels.data() + i * 4, &v, 4);
    d.labels.push_back(int32_t(i % 3 == 0 ? 0 : i % classes));  // every class, class 0 the most
  }
  d.num_classes = classes;
  return d;
}

std::map<int32_t, int64_t> class_counts(const Dataset& d, const std::vector<int64_t>& positions) {
  std::map<int32_t, int64_t> counts;
  for (int64_t p : positions) ++counts[d.labels[size_t(p)]];
  return counts;
}

}  // namespace

TEST_CASE("split: a seed gives the same disjoint parts covering the data, another seed other parts") {
  const Dataset d = labelled(1000, 10);
  const auto train = split_positions(d, 0.1, 5, false, false),
             valid = split_positions(d, 0.1, 5, false, true);
  CHECK(train == split_positions(d, 0.1, 5, false, false));
  CHECK(valid.size() == 100);
  CHECK(train.size() == 900);
  std::set<int64_t> all(train.begin(), train.end());
  for (int64_t v : valid) CHECK(all.insert(v).second);
  CHECK(all.size() == 1000);
  CHECK(std::is_sorted(train.begin(), train.end()));
  CHECK(valid != split_positions(d, 0.1, 6, false, true));
}

TEST_CASE("split: stratified parts hold each class in the data's proportion") {
  const Dataset d = labelled(1000, 4);
  const auto valid = split_positions(d, 0.2, 1, true, true);
  std::vector<int64_t> everything(1000);
  for (int64_t i = 0; i < 1000; ++i) everything[size_t(i)] = i;
  const auto whole = class_counts(d, everything), held = class_counts(d, valid);
  for (const auto& [cls, n] : whole) CHECK(std::llabs(held.at(cls) - std::llround(0.2 * double(n))) == 0);
  CHECK(error_of([&] {
          Dataset unlabelled = d;
          unlabelled.labels.clear();
          split_positions(unlabelled, 0.2, 1, true, true);
        }) == ": error: split(stratify=1) needs labels, but the data has none");
}

TEST_CASE("subset: balanced, seeded, and nested (a seed's first 500 are inside its first 2000)") {
  const Dataset d = labelled(6000, 10);
  const auto small = subset_positions(d, 500, true, 11, {}), large = subset_positions(d, 2000, true, 11, {});
  CHECK(small == subset_positions(d, 500, true, 11, {}));
  CHECK(std::equal(small.begin(), small.end(), large.begin()));
  for (const auto& [cls, n] : class_counts(d, small)) CHECK(n == 50);
  CHECK(std::set<int64_t>(small.begin(), small.end()).size() == 500);
  CHECK(small != subset_positions(d, 500, true, 12, {}));
  const auto plain = subset_positions(d, 300, false, 11, {});
  CHECK(std::equal(plain.begin(), plain.end(), subset_positions(d, 900, false, 11, {}).begin()));
  CHECK(error_of([&] { subset_positions(d, 7000, false, 1, {}); }) ==
        ": error: subset(n=7000) asks for more samples than the 6000 there are");
}

TEST_CASE("subset: classes keeps only those, relabel numbers them in the order listed") {
  Dataset d = labelled(600, 10);
  const auto picked = subset_positions(d, 0, false, 3, {7, 5});
  for (int64_t p : picked) CHECK((d.labels[size_t(p)] == 7 || d.labels[size_t(p)] == 5));
  Dataset sub = select(d, picked);
  CHECK(sub.num_classes == 8);  // labels 5 and 7 left: an 8-way input fits them
  relabel(sub, {7, 5});
  CHECK(sub.num_classes == 2);
  for (int64_t i = 0; i < sub.count; ++i) {
    float value = 0;
    sub.copy_image(i, &value);  // the feature is the original index, so the relabel can be checked
    CHECK(sub.labels[size_t(i)] == (d.labels[size_t(value)] == 7 ? 0 : 1));
  }
  CHECK(error_of([&] { subset_positions(d, 0, false, 3, {12}); }) ==
        ": error: subset(classes=[...]) lists class 12, which no sample of the data has");
}

TEST_CASE("standardize and minmax statistics match the definition, and copy_image applies them") {
  Dataset d = labelled(5, 2);  // features 0..4
  std::vector<float> offset, multiplier;
  compute_standardize(d, offset, multiplier);
  CHECK(offset[0] == doctest::Approx(2.0));
  CHECK(multiplier[0] == doctest::Approx(1 / std::sqrt(2.0)));
  compute_minmax(d, offset, multiplier);
  CHECK(offset[0] == 0);
  CHECK(multiplier[0] == doctest::Approx(0.25));
  d.offset = offset;
  d.multiplier = multiplier;
  CHECK(all_values(d) == std::vector<float>{0, 0.25f, 0.5f, 0.75f, 1});
}
