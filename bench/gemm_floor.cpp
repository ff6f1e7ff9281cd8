// gemm_floor: oneDNN's own throughput on exactly the GEMM (and convolution) shapes of the benchmark's models,
// so bench/run.py can report hourglass's epoch time as a multiple of what oneDNN's kernels allow.
//
//   gemm_floor [--threads T] [--min-time SECONDS] [--reps R] [--dtypes f32,bf16] < shapes.txt
//
// Each input line is one operation ('#' starts a comment):
//   dense  fwd|bwd_data|bwd_weights  B K N          a dense layer, batch B, K inputs, N outputs (weights [N,
//   K]) conv   fwd|bwd_data|bwd_weights  B C H W OC k s p     2-D convolution, input [B, C, H, W] deconv
//   fwd|bwd_data|bwd_weights  B C H W OC k s p     transposed convolution, input [B, C, H, W]
// A dense op is measured with both oneDNN primitives that can do it, inner_product (weights in the layout
// oneDNN prefers, format `any`) and matmul (plain row-major buffers, the transposes as strides):
//   fwd          Y[B,N]  = X[B,K] W^T            inner_product forward_training / matmul X * W^T
//   bwd_data     dX[B,K] = dY[B,N] W             inner_product backward_data    / matmul dY * W
//   bwd_weights  dW[N,K] = dY^T X                inner_product backward_weights / matmul dY^T * X
// Convolutions use oneDNN's convolution / deconvolution primitives twice: with every layout `any` (its
// blocked direct kernels, usually the faster) and on plain NCHW / OIHW buffers ("(plain)": im2col and sgemm,
// faster where a side has too few channels to fill the vectors). FLOPs are 2*M*N*K of the (implicit) GEMM.
// For every dtype asked for (f32, bf16) it tries to create the primitive; when oneDNN cannot (bf16 on a CPU
// without AVX-512, for example) it says so in the output instead of failing. bf16 means bf16 sources and
// weights, f32 weight gradients, bf16 other outputs.
//
// Output: JSON lines on stdout, first {"header": ...} (oneDNN version, ISA, threads), then one line per
// (operation, primitive, dtype) with the median seconds per call over R timed repetitions of at least
// SECONDS each, GFLOP/s, and the implementation oneDNN picked, or "status": "unavailable: ...".
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;
using Clock = std::chrono::steady_clock;

namespace {

double g_min_time = 0.05;
int g_reps = 5;

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

const char* isa_name(cpu_isa isa) {
  switch (isa) {
    case cpu_isa::all:
      return "all";
    case cpu_isa::sse41:
      return "sse41";
    case cpu_isa::avx:
      return "avx";
    case cpu_isa::avx2:
      return "avx2";
    case cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case cpu_isa::avx512_mic:
      return "avx512_mic";
    case cpu_isa::avx512_mic_4ops:
      return "avx512_mic_4ops";
    case cpu_isa::avx512_core:
      return "avx512_core";
    case cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    default:
      return "other";
  }
}

// Memory for a descriptor, filled with 0x3c bytes (about 0.0115 as f32 and as bf16: no NaN, no denormals).
memory make(const memory::desc& md, const engine& eng) {
  memory m(md, eng);
  std::memset(m.get_data_handle(), 0x3c, md.get_size());
  return m;
}

struct Measured {
  double seconds = 0;  // median per call
  std::string impl;
};

// Times prim.execute(args): warm-up, then R repetitions of n calls, n chosen so one repetition takes at least
// g_min_time; returns the median seconds per call.
double time_calls(const primitive& prim, const std::unordered_map<int, memory>& args, stream& s) {
  for (int i = 0; i < 2; ++i) prim.execute(s, args);
  s.wait();
  int64_t n = 1;
  for (;;) {
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < n; ++i) prim.execute(s, args);
    s.wait();
    const double t = std::chrono::duration<double>(Clock::now() - t0).count();
    if (t >= g_min_time || n >= (int64_t(1) << 24)) break;
    n = std::max<int64_t>(n * 2, int64_t(double(n) * g_min_time / std::max(t, 1e-9) * 1.1));
  }
  std::vector<double> per_call;
  for (int r = 0; r < g_reps; ++r) {
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < n; ++i) prim.execute(s, args);
    s.wait();
    per_call.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / double(n));
  }
  std::sort(per_call.begin(), per_call.end());
  return per_call[per_call.size() / 2];
}

// ---- one pass of a primitive, timed with made-up data: the arguments are the same for every layer kind --

template <typename Prim, typename PD>
Measured time_forward(const PD& pd, const engine& eng, stream& s) {
  Prim prim(pd);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, make(pd.src_desc(), eng)},
                                       {DNNL_ARG_WEIGHTS, make(pd.weights_desc(), eng)},
                                       {DNNL_ARG_BIAS, make(pd.bias_desc(), eng)},
                                       {DNNL_ARG_DST, make(pd.dst_desc(), eng)}};
  return {time_calls(prim, args, s), pd.impl_info_str()};
}

template <typename Prim, typename PD>
Measured time_backward_data(const PD& pd, const engine& eng, stream& s) {
  Prim prim(pd);
  std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, make(pd.diff_dst_desc(), eng)},
                                       {DNNL_ARG_WEIGHTS, make(pd.weights_desc(), eng)},
                                       {DNNL_ARG_DIFF_SRC, make(pd.diff_src_desc(), eng)}};
  return {time_calls(prim, args, s), pd.impl_info_str()};
}

template <typename Prim, typename PD>
Measured time_backward_weights(const PD& pd, const engine& eng, stream& s) {
  Prim prim(pd);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, make(pd.src_desc(), eng)},
                                       {DNNL_ARG_DIFF_DST, make(pd.diff_dst_desc(), eng)},
                                       {DNNL_ARG_DIFF_WEIGHTS, make(pd.diff_weights_desc(), eng)},
                                       {DNNL_ARG_DIFF_BIAS, make(pd.diff_bias_desc(), eng)}};
  return {time_calls(prim, args, s), pd.impl_info_str()};
}

// ---- dense ----------------------------------------------------------------------------------------------

Measured dense_inner_product(const std::string& op, int64_t B, int64_t K, int64_t N, dt d, const engine& eng,
                             stream& s) {
  const dt wgrad = d == dt::bf16 ? dt::f32 : d;
  memory::desc src({B, K}, d, tag::nc), dst({B, N}, d, tag::nc), bias({N}, dt::f32, tag::x);
  memory::desc w_any({N, K}, d, tag::any);
  inner_product_forward::desc fd(prop_kind::forward_training, src, w_any, bias, dst);
  inner_product_forward::primitive_desc fpd(fd, eng);
  if (op == "fwd") return time_forward<inner_product_forward>(fpd, eng, s);
  if (op == "bwd_data") {
    inner_product_backward_data::desc bd(src, w_any, dst);
    return time_backward_data<inner_product_backward_data>(
        inner_product_backward_data::primitive_desc(bd, eng, fpd), eng, s);
  }
  memory::desc dw_any({N, K}, wgrad, tag::any), db({N}, wgrad, tag::x);
  inner_product_backward_weights::desc bd(src, dw_any, db, dst);
  return time_backward_weights<inner_product_backward_weights>(
      inner_product_backward_weights::primitive_desc(bd, eng, fpd), eng, s);
}

Measured dense_matmul(const std::string& op, int64_t B, int64_t K, int64_t N, dt d, const engine& eng,
                      stream& s) {
  memory::desc a, b, c;
  if (op == "fwd") {  // X[B,K] * W^T, W stored [N,K]: the [K,N] operand in column-major (ba)
    a = memory::desc({B, K}, d, tag::ab);
    b = memory::desc({K, N}, d, tag::ba);
    c = memory::desc({B, N}, d, tag::ab);
  } else if (op == "bwd_data") {  // dY[B,N] * W[N,K]
    a = memory::desc({B, N}, d, tag::ab);
    b = memory::desc({N, K}, d, tag::ab);
    c = memory::desc({B, K}, d, tag::ab);
  } else {  // dY^T * X: dY stored [B,N], read as [N,B] column-major
    a = memory::desc({N, B}, d, tag::ba);
    b = memory::desc({B, K}, d, tag::ab);
    c = memory::desc({N, K}, d == dt::bf16 ? dt::f32 : d, tag::ab);
  }
  matmul::desc md(a, b, c);
  matmul::primitive_desc pd(md, eng);
  matmul prim(pd);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, make(pd.src_desc(), eng)},
                                       {DNNL_ARG_WEIGHTS, make(pd.weights_desc(), eng)},
                                       {DNNL_ARG_DST, make(pd.dst_desc(), eng)}};
  Measured m;
  m.impl = pd.impl_info_str();
  m.seconds = time_calls(prim, args, s);
  return m;
}

// ---- convolution / transposed convolution ---------------------------------------------------------------

struct ConvShape {
  int64_t B, C, H, W, OC, k, s, p;
  bool transposed;
  int64_t OH() const { return transposed ? (H - 1) * s - 2 * p + k : (H + 2 * p - k) / s + 1; }
  int64_t OW() const { return transposed ? (W - 1) * s - 2 * p + k : (W + 2 * p - k) / s + 1; }
  // 2*M*N*K of the implicit GEMM: every (output pixel, output channel) of a convolution sums C*k*k
  // products; every input pixel of a transposed convolution scatters to OC*k*k outputs.
  double flops() const {
    return transposed ? 2.0 * B * H * W * C * OC * k * k : 2.0 * B * OH() * OW() * OC * C * k * k;
  }
};

// `plain`: the tensors NCHW and the weights OIHW (IOHW for a transposed convolution, PyTorch's layout),
// where oneDNN runs im2col and sgemm; otherwise every layout `any`, where it picks its blocked direct
// kernels.
template <typename Fwd, typename BwdD, typename BwdW>
Measured conv_like(const std::string& op, const ConvShape& c, algorithm alg, dt d, bool plain,
                   const engine& eng, stream& s) {
  const dt wgrad = d == dt::bf16 ? dt::f32 : d;
  const tag act = plain ? tag::nchw : tag::any,
            wt = plain ? (c.transposed ? tag::iohw : tag::oihw) : tag::any;
  memory::desc src({c.B, c.C, c.H, c.W}, d, act), dst({c.B, c.OC, c.OH(), c.OW()}, d, act);
  memory::desc w({c.OC, c.C, c.k, c.k}, d, wt), bias({c.OC}, dt::f32, tag::x);
  const memory::dims strides{c.s, c.s}, pad{c.p, c.p};
  typename Fwd::desc fd(prop_kind::forward_training, alg, src, w, bias, dst, strides, pad, pad);
  typename Fwd::primitive_desc fpd(fd, eng);
  if (op == "fwd") return time_forward<Fwd>(fpd, eng, s);
  if (op == "bwd_data") {
    typename BwdD::desc bd(alg, src, w, dst, strides, pad, pad);
    return time_backward_data<BwdD>(typename BwdD::primitive_desc(bd, eng, fpd), eng, s);
  }
  memory::desc dw({c.OC, c.C, c.k, c.k}, wgrad, wt), db({c.OC}, wgrad, tag::x);
  typename BwdW::desc bd(alg, src, dw, db, dst, strides, pad, pad);
  return time_backward_weights<BwdW>(typename BwdW::primitive_desc(bd, eng, fpd), eng, s);
}

void emit(const std::string& line, const std::string& kind, const std::string& op, const std::string& prim,
          const std::string& dtype, double flops, const Measured* m, const std::string& error) {
  std::printf(
      "{\"line\": \"%s\", \"kind\": \"%s\", \"op\": \"%s\", \"primitive\": \"%s\", \"dtype\": \"%s\", "
      "\"flops\": %.0f, ",
      json_escape(line).c_str(), kind.c_str(), op.c_str(), prim.c_str(), dtype.c_str(), flops);
  if (m)
    std::printf("\"status\": \"ok\", \"seconds\": %.9g, \"gflops\": %.2f, \"impl\": \"%s\"}\n", m->seconds,
                flops / m->seconds * 1e-9, json_escape(m->impl).c_str());
  else
    std::printf("\"status\": \"unavailable: %s\"}\n", json_escape(error).c_str());
  std::fflush(stdout);
}

void measure(const std::string& line, const std::string& prim, const std::string& kind, const std::string& op,
             const std::string& dtype, double flops, const std::function<Measured()>& fn) {
  try {
    const Measured m = fn();
    emit(line, kind, op, prim, dtype, flops, &m, "");
  } catch (const dnnl::error& e) {
    emit(line, kind, op, prim, dtype, flops, nullptr,
         std::string(e.what()) + " (dnnl_status " + std::to_string(int(e.status)) + ")");
  } catch (const std::exception& e) {
    emit(line, kind, op, prim, dtype, flops, nullptr, e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0;
  std::vector<std::string> dtypes{"f32", "bf16"};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "gemm_floor: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--threads")
      threads = std::atoi(next().c_str());
    else if (a == "--min-time")
      g_min_time = std::atof(next().c_str());
    else if (a == "--reps")
      g_reps = std::max(1, std::atoi(next().c_str()));
    else if (a == "--dtypes") {
      dtypes.clear();
      std::stringstream ss(next());
      for (std::string t; std::getline(ss, t, ',');) dtypes.push_back(t);
    } else {
      std::fprintf(
          stderr, "usage: gemm_floor [--threads T] [--min-time S] [--reps R] [--dtypes f32,bf16] < shapes\n");
      return a == "-h" || a == "--help" ? 0 : 2;
    }
  }
  if (threads > 0) omp_set_num_threads(threads);
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  const dnnl_version_t* v = dnnl_version();
  const char* wait = std::getenv("OMP_WAIT_POLICY");
  const char* spin = std::getenv("GOMP_SPINCOUNT");
  std::printf(
      "{\"header\": {\"onednn_version\": \"%d.%d.%d\", \"onednn_hash\": \"%s\", \"cpu_runtime\": %u, "
      "\"effective_isa\": \"%s\", \"threads\": %d, \"omp_wait_policy\": \"%s\", \"gomp_spincount\": \"%s\", "
      "\"min_time\": %g, "
      "\"reps\": %d}}\n",
      v->major, v->minor, v->patch, v->hash ? v->hash : "", v->cpu_runtime, isa_name(get_effective_cpu_isa()),
      omp_get_max_threads(), wait ? wait : "", spin ? spin : "", g_min_time, g_reps);
  std::fflush(stdout);

  for (std::string line; std::getline(std::cin, line);) {
    if (const auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::stringstream ss(line);
    std::string kind, op;
    if (!(ss >> kind >> op)) continue;
    if (op != "fwd" && op != "bwd_data" && op != "bwd_weights") {
      std::fprintf(stderr, "gemm_floor: unknown op '%s' in: %s\n", op.c_str(), line.c_str());
      return 2;
    }
    std::string trimmed = kind + " " + op;
    if (kind == "dense") {
      int64_t B, K, N;
      if (!(ss >> B >> K >> N)) {
        std::fprintf(stderr, "gemm_floor: bad line: %s\n", line.c_str());
        return 2;
      }
      trimmed += " " + std::to_string(B) + " " + std::to_string(K) + " " + std::to_string(N);
      const double flops = 2.0 * B * K * N;
      for (const std::string& d : dtypes) {
        const dt t = d == "bf16" ? dt::bf16 : dt::f32;
        measure(trimmed, "inner_product", kind, op, d, flops,
                [&] { return dense_inner_product(op, B, K, N, t, eng, s); });
        measure(trimmed, "matmul", kind, op, d, flops, [&] { return dense_matmul(op, B, K, N, t, eng, s); });
      }
    } else if (kind == "conv" || kind == "deconv") {
      ConvShape c{};
      c.transposed = kind == "deconv";
      if (!(ss >> c.B >> c.C >> c.H >> c.W >> c.OC >> c.k >> c.s >> c.p)) {
        std::fprintf(stderr, "gemm_floor: bad line: %s\n", line.c_str());
        return 2;
      }
      for (int64_t x : {c.B, c.C, c.H, c.W, c.OC, c.k, c.s, c.p}) trimmed += " " + std::to_string(x);
      for (const std::string& d : dtypes) {
        const dt t = d == "bf16" ? dt::bf16 : dt::f32;
        for (bool plain : {false, true}) {
          const std::string suffix = plain ? " (plain)" : "";
          if (c.transposed)
            measure(trimmed, "deconvolution" + suffix, kind, op, d, c.flops(), [&] {
              return conv_like<deconvolution_forward, deconvolution_backward_data,
                               deconvolution_backward_weights>(op, c, algorithm::deconvolution_direct, t,
                                                               plain, eng, s);
            });
          else
            measure(trimmed, "convolution" + suffix, kind, op, d, c.flops(), [&] {
              return conv_like<convolution_forward, convolution_backward_data, convolution_backward_weights>(
                  op, c, algorithm::convolution_direct, t, plain, eng, s);
            });
        }
      }
    } else {
      std::fprintf(stderr, "gemm_floor: unknown kind '%s' in: %s\n", kind.c_str(), line.c_str());
      return 2;
    }
  }
  return 0;
}
