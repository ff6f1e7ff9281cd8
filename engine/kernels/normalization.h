// Batch and layer normalization on oneDNN, with primitives created once per node and shape.
// Legend: N = batch, C = channels (features, for samples shaped [F]), S = pixels per channel (H*W, or 1).
// src and dst are plain (N, C, S) buffers. A group is what one mean and variance describe:
//   batch norm: channel c over the N*S values of every sample's pixels   (C groups; scale, shift: C)
//   layer norm: sample n over its C*S values                            (N groups; scale, shift: C*S)
//   dst = (src - mean) / sqrt(variance + epsilon) * scale + shift, variance the biased one (divided by the
//   group's size), per group; scale and shift per channel (batch norm) or per element (layer norm).
// With batch statistics the forward computes each group's mean and variance from src; with global statistics
// (batch norm only: evaluation, with the running statistics) it normalizes with the ones it is given.
//   backward data:   diff_src = scale * inverse / M * (M dy - sum(dy) - xhat sum(dy xhat)) with batch
//                    statistics (M the group's size, inverse = 1 / sqrt(variance + epsilon), sums over the
//                    group, xhat = (src - mean) * inverse); scale * inverse * dy with global ones
//   backward scale:  diff_scale = sum dy xhat, backward shift: diff_shift = sum dy, over the batch (and
//   pixels)
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace hg {

struct NormShape {
  int64_t batch = 0, channels = 0, pixels = 1;
  bool layer = false;         // layer normalization; batch normalization otherwise
  bool global_stats = false;  // batch norm only: normalize with given statistics instead of the batch's
  float epsilon = 1e-5f;

  int64_t groups() const { return layer ? batch : channels; }
  int64_t parameters() const { return layer ? channels * pixels : channels; }  // of scale, and of shift
};

// "batch norm, N=128, C=32, S=196, batch statistics", for messages.
std::string describe(const NormShape& s);

class NormKernels {
 public:
  explicit NormKernels(const NormShape& shape);  // validates, creates every primitive; throws on failure
  ~NormKernels();
  NormKernels(const NormKernels&) = delete;
  NormKernels& operator=(const NormKernels&) = delete;

  const NormShape& shape() const;
  // None of these allocate or create primitives. Results overwrite their outputs. forward keeps the
  // statistics it normalized with (computed, or copied from mean and variance with global statistics, which
  // are ignored otherwise) for the backward passes, so run those after the forward of the same step.
  void forward(const float* src, const float* scale, const float* shift, float* dst,
               const float* mean = nullptr, const float* variance = nullptr);
  // The latest forward's statistics, groups() each (variance biased).
  const float* mean() const;
  const float* variance() const;
  // oneDNN computes the scale and shift gradients in the same pass (for batch norm they are the sums the data
  // gradient needs anyway); this keeps them, parameters() each, until the next backward_data.
  void backward_data(const float* diff_dst, const float* src, const float* scale, float* diff_src);
  const float* diff_scale() const;
  const float* diff_shift() const;
  // The same two gradients without backward_data (when nothing needs the data gradient): plain loops on the
  // math threads, each parameter summed by one thread in a fixed order (deterministic for any thread count).
  // Both may run at the same time as each other.
  void backward_scale(const float* diff_dst, const float* src, float* diff_scale) const;
  void backward_shift(const float* diff_dst, float* diff_shift) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

namespace reference {
// Plain loops with the same contracts, accumulating in double, for tests. forward writes the statistics it
// computed to mean and variance (groups() each), or reads them with global statistics; the backward passes
// read them.
void norm_forward(const NormShape& s, const float* src, const float* scale, const float* shift, float* mean,
                  float* variance, float* dst);
void norm_backward_data(const NormShape& s, const float* diff_dst, const float* src, const float* scale,
                        const float* mean, const float* variance, float* diff_src);
void norm_backward_scale(const NormShape& s, const float* diff_dst, const float* src, const float* mean,
                         const float* variance, float* diff_scale);
void norm_backward_shift(const NormShape& s, const float* diff_dst, float* diff_shift);
}  // namespace reference

}  // namespace hg
