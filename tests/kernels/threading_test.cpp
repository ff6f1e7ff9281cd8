// parallel_for: every index exactly once, chunk boundaries independent of the thread count, small ranges
// run on the calling thread, and exceptions reach the caller. Also the plugin host table.
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

#include "kernels/threading.h"

using namespace hg;

namespace {

using Chunks = std::vector<std::pair<int64_t, int64_t>>;

// The chunks parallel_for hands out, sorted, and a per-index visit count.
Chunks record_chunks(int64_t begin, int64_t end, int64_t grain, std::vector<int>* visits = nullptr) {
  Chunks chunks;
  std::mutex mutex;
  std::vector<std::atomic<int>> counts(std::max<int64_t>(end - begin, 0));
  parallel_for(begin, end, grain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) counts[i - begin]++;
    std::lock_guard<std::mutex> lock(mutex);
    chunks.emplace_back(b, e);
  });
  std::sort(chunks.begin(), chunks.end());
  if (visits) visits->assign(counts.begin(), counts.end());
  return chunks;
}

struct Range {
  int64_t begin, end, grain;
};
const Range kRanges[] = {{0, 0, 1},   {5, 5, 3},   {7, 3, 2},   {0, 1, 1},
                         {0, 10, 3},  {-4, 9, 4},  {0, 100, 1}, {3, 1000, 64},
                         {0, 64, 64}, {0, 65, 64}, {0, 5, 0},   {0, 1 << 20, 1000}};

// Restores the thread count a test changed.
struct ThreadsGuard {
  int saved = math_threads();
  ~ThreadsGuard() { set_math_threads(saved); }
};

}  // namespace

TEST_CASE("parallel_for covers the range exactly once in ceil(length / grain) chunks") {
  ThreadsGuard guard;
  set_math_threads(2);
  for (const Range& r : kRanges) {
    CAPTURE(r.begin);
    CAPTURE(r.end);
    CAPTURE(r.grain);
    std::vector<int> visits;
    const Chunks chunks = record_chunks(r.begin, r.end, r.grain, &visits);
    CHECK(std::all_of(visits.begin(), visits.end(), [](int v) { return v == 1; }));
    const int64_t length = std::max<int64_t>(r.end - r.begin, 0), grain = std::max<int64_t>(r.grain, 1);
    CHECK(chunks.size() == static_cast<size_t>((length + grain - 1) / grain));
    for (size_t i = 0; i < chunks.size(); ++i) {
      CHECK(chunks[i].first == r.begin + static_cast<int64_t>(i) * grain);
      CHECK(chunks[i].second - chunks[i].first == std::min(grain, r.end - chunks[i].first));
    }
  }
}

TEST_CASE("parallel_for chunks the same way on 1 and 2 threads") {
  ThreadsGuard guard;
  for (const Range& r : kRanges) {
    set_math_threads(1);
    const Chunks one = record_chunks(r.begin, r.end, r.grain);
    set_math_threads(2);
    const Chunks two = record_chunks(r.begin, r.end, r.grain);
    CHECK(one == two);
  }
}

TEST_CASE("parallel_for runs a single chunk on the calling thread and several on the team") {
  ThreadsGuard guard;
  set_math_threads(2);
  bool in_parallel = true;
  parallel_for(0, 10, 10, [&](int64_t, int64_t) { in_parallel = omp_in_parallel(); });
  CHECK_FALSE(in_parallel);

  std::atomic<int> team_size{0};
  parallel_for(0, 8, 1, [&](int64_t, int64_t) { team_size = omp_get_num_threads(); });
  CHECK(team_size == 2);
}

TEST_CASE("parallel_for rethrows a body's exception on the calling thread") {
  ThreadsGuard guard;
  set_math_threads(2);
  auto throw_at_5 = [](int64_t b, int64_t e) {
    if (b <= 5 && 5 < e) throw std::runtime_error("chunk with 5");
  };
  CHECK_THROWS_WITH(parallel_for(0, 100, 1, throw_at_5), "chunk with 5");
  CHECK_THROWS_WITH(parallel_for(0, 10, 100, throw_at_5), "chunk with 5");
}

TEST_CASE("plugin_host reports the math threads and runs parallel_for") {
  ThreadsGuard guard;
  set_math_threads(1);
  CHECK(plugin_host()->num_threads == 1);
  set_math_threads(2);
  const hg_host* host = plugin_host();
  CHECK(host->num_threads == 2);
  CHECK(math_threads() == 2);
  std::atomic<int64_t> sum{0};
  host->parallel_for(0, 1000, 7, &sum, [](void* context, int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) *static_cast<std::atomic<int64_t>*>(context) += i;
  });
  CHECK(sum == 999 * 1000 / 2);
}

// The host's GEMM as a plugin calls it: row-major, either operand transposed, with row strides wider than
// the rows, against a double-precision triple loop; the same bits on every call; bad arguments refused.
TEST_CASE("plugin_host's sgemm matches a reference product and refuses invalid arguments") {
  const hg_host* host = plugin_host();
  REQUIRE(HG_HAS_FIELD(host, hg_host, sgemm));
  REQUIRE(static_cast<bool>(host->sgemm));
  const int64_t m = 7, n = 5, k = 33, lda = 40, ldb = 9, ldc = 6;  // strides beyond the rows they hold
  std::vector<float> a(size_t(m * lda)), b(size_t(k * ldb)), at(size_t(k * m));
  for (size_t i = 0; i < a.size(); ++i) a[i] = float(int(i * 37 % 17) - 8) / 8;
  for (size_t i = 0; i < b.size(); ++i) b[i] = float(int(i * 11 % 13) - 6) / 4;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p) at[size_t(p * m + i)] = a[size_t(i * lda + p)];
  std::vector<float> c(size_t(m * ldc), 1.0f);
  REQUIRE(host->sgemm('N', 'N', m, n, k, 2.0f, a.data(), lda, b.data(), ldb, 0.5f, c.data(), ldc) == 0);
  std::vector<float> ct(size_t(m * ldc), 1.0f);
  REQUIRE(host->sgemm('T', 'N', m, n, k, 2.0f, at.data(), m, b.data(), ldb, 0.5f, ct.data(), ldc) == 0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t p = 0; p < k; ++p) sum += double(a[size_t(i * lda + p)]) * b[size_t(p * ldb + j)];
      CAPTURE(i);
      CAPTURE(j);
      CHECK(c[size_t(i * ldc + j)] == doctest::Approx(2 * sum + 0.5).epsilon(1e-5));
      CHECK(ct[size_t(i * ldc + j)] == doctest::Approx(2 * sum + 0.5).epsilon(1e-5));
    }
  std::vector<float> again(size_t(m * ldc), 1.0f);
  host->sgemm('N', 'N', m, n, k, 2.0f, a.data(), lda, b.data(), ldb, 0.5f, again.data(), ldc);
  CHECK(again == c);
  CHECK(host->sgemm('X', 'N', m, n, k, 1, a.data(), lda, b.data(), ldb, 0, c.data(), ldc) != 0);
  CHECK(host->sgemm('N', 'N', m, n, k, 1, a.data(), k - 1, b.data(), ldb, 0, c.data(), ldc) != 0);
  CHECK(host->sgemm('N', 'N', -1, n, k, 1, a.data(), lda, b.data(), ldb, 0, c.data(), ldc) != 0);
  CHECK(host->sgemm('N', 'N', m, n, k, 1, nullptr, lda, b.data(), ldb, 0, c.data(), ldc) != 0);
}
