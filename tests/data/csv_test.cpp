// read_csv on small tables: headers, class names, column choice, gzip, a round trip of numpy's own CSV, and
// the exact file:line:column messages for broken tables.
#include "data_fixture.h"

using namespace hg;
using namespace hg::test;

TEST_CASE("csv: a header, numeric cells and class names mapped to sorted indices") {
  TempDir dir;
  const std::string path =
      write_file(dir.file("t.csv"), "a, b ,kind,c\r\n1,2,dog,3\n4.5,-5e-1,cat,6\n\n7,8,\"dog\",9\n");
  const Dataset d = read_csv(csv_options(path, "kind"));
  CHECK(d.count == 3);
  CHECK(d.item_dims == std::vector<int64_t>{3});
  CHECK(d.dtype == DType::F32);
  CHECK(all_values(d) == std::vector<float>{1, 2, 3, 4.5f, -0.5f, 6, 7, 8, 9});
  CHECK(d.class_names == std::vector<std::string>{"cat", "dog"});
  CHECK(d.labels == std::vector<int32_t>{1, 0, 1});
  CHECK(d.num_classes == 2);
}

TEST_CASE(
    "csv: chosen columns in their order, whole-number labels kept, skip/limit, scale, no header, gzip") {
  TempDir dir;
  const std::string text = "x,y,label,z\n1,2,3,4\n5,6,0.0,8\n9,10,2,12\n";
  const std::string plain = write_file(dir.file("t.csv"), text);
  CsvOptions o = csv_options(plain, "label");
  o.columns = {"z", "x"};
  o.scale = 0.5f;
  const Dataset d = read_csv(o);
  CHECK(all_values(d) == std::vector<float>{2, 0.5f, 4, 2.5f, 6, 4.5f});
  CHECK(d.labels == std::vector<int32_t>{3, 0, 2});
  CHECK(d.class_names.empty());
  CsvOptions sliced = csv_options(write_gz(dir.file("t.csv.gz"), text), "label");
  sliced.skip = 1;
  sliced.limit = 1;
  const Dataset s = read_csv(sliced);
  CHECK(s.count == 1);
  CHECK(all_values(s) == std::vector<float>{5, 6, 8});
  CsvOptions bare = csv_options(write_file(dir.file("bare.csv"), "1,2,1\n3,4,0\n"), "2");
  bare.header = false;
  const Dataset b = read_csv(bare);
  CHECK(all_values(b) == std::vector<float>{1, 2, 3, 4});
  CHECK(b.labels == std::vector<int32_t>{1, 0});
}

TEST_CASE("csv: numpy's savetxt output reads back as numpy's float32 of it") {
  require_numpy();
  TempDir dir;
  run_numpy(dir, R"(
rng = np.random.default_rng(3)
x = rng.normal(size=(50, 7)) * 1000
y = rng.integers(0, 4, size=50)
np.savetxt('t.csv', np.column_stack([x, y]), delimiter=',', header=','.join(['f%d' % i for i in range(7)] + ['y']), comments='', fmt='%.17g')
x.astype(np.float32).tofile('x.f32')
y.astype(np.int32).tofile('y.i32')
)");
  const Dataset d = read_csv(csv_options(dir.file("t.csv"), "y"));
  const std::vector<float> got = all_values(d);
  CHECK(std::string(reinterpret_cast<const char*>(got.data()), got.size() * 4) ==
        read_file(dir.file("x.f32")));
  CHECK(std::string(reinterpret_cast<const char*>(d.labels.data()), d.labels.size() * 4) ==
        read_file(dir.file("y.i32")));
}

TEST_CASE("csv errors: ragged, missing, non-numeric, unknown columns, quotes, empty and truncated files") {
  TempDir dir;
  auto err = [&](const std::string& name, const std::string& text, const std::string& label = "y") {
    const std::string path = write_file(dir.file(name), text);
    return error_of([&] { read_csv(csv_options(path, label)); });
  };
  CHECK(err("ragged.csv", "a,b,y\n1,2,0\n3,4\n") ==
        dir.file("ragged.csv") + ":3:1: error: ragged row: 2 cells, but the header has 3");
  CHECK(err("missing.csv", "a,b,y\n1,2,0\n3,,1\n") ==
        dir.file("missing.csv") + ":3:3: error: missing value in column 'b'");
  CHECK(err("text.csv", "a,b,y\n1,2,0\n3,four,1\n") ==
        dir.file("text.csv") + ":3:3: error: 'four' in column 'b' is not a number");
  CHECK(err("inf.csv", "a,b,y\n1,1e39,0\n") ==
        dir.file("inf.csv") + ":2:3: error: '1e39' in column 'b' is not a finite float32");
  CHECK(err("nolabel.csv", "a,b,y\n1,2,\n") ==
        dir.file("nolabel.csv") + ":2:5: error: missing label in column 'y'");
  CHECK(err("unknown.csv", "a,b,target\n1,2,0\n", "targt") ==
        dir.file("unknown.csv") + ":1:1: error: no label column 'targt' (did you mean 'target'?)");
  CHECK(err("quote.csv", "a,b,y\n1,\"2,0\n") ==
        dir.file("quote.csv") + ":2:3: error: a quoted cell has no closing '\"'");
  CHECK(err("empty.csv", "") == dir.file("empty.csv") + ": error: the file is empty");
  CHECK(err("header.csv", "a,b,y\n") ==
        dir.file("header.csv") + ":1:1: error: the table has a header but no rows");
  CHECK(err("twice.csv", "a,a,y\n1,2,3\n") ==
        dir.file("twice.csv") + ":1:1: error: the header names column 'a' twice");
  // a gzip stream cut in half: zlib's own error, named at the file
  const std::string whole =
      read_file(write_gz(dir.file("whole.csv.gz"), "a,b,y\n" + std::string(2000, '1') + ",2,0\n"));
  const std::string cut = write_file(dir.file("cut.csv.gz"), whole.substr(0, whole.size() / 2));
  CHECK(error_of([&] { read_csv(csv_options(cut, "y")); }).rfind(cut + ": error: ", 0) == 0);
  CHECK(error_of([&] { read_csv(csv_options(dir.file("absent.csv"), "y")); }) ==
        dir.file("absent.csv") + ": error: cannot open: No such file or directory");
}
