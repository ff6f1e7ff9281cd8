// The memory budget. Every allocation whose size a file or a graph decides (the parameters with their
// gradients and optimizer state, a plan's arena, a data set held in memory, a checkpoint's header, a graph's
// text) is checked here before it happens, so that a graph or file asking for more than the machine can
// give ends in an error naming the place and both sizes, never in the allocator or the OOM killer.
//
// The budget is `--max-memory SIZE` (set_max_memory), else $HOURGLASS_MAX_MEMORY: then it is a total, and
// everything reserved and not yet released counts against it. Without either, each allocation must fit
// in the memory the machine has available at that moment (MemAvailable in /proc/meminfo, or the physical
// memory where that cannot be read), which already reflects what this process holds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "support/diagnostics.h"

namespace hg {

// "512M", "4G", "1.5G", "64k", "4GiB", "100MB" or a plain number of bytes. K, M, G and T are powers of 1024
// (any case, optionally followed by "B" or "iB"). nullopt for anything else, for 0 and for more than 2^60.
std::optional<uint64_t> parse_memory_size(const std::string& text);
// "812 bytes", "3.5 KiB", "47.0 MiB", "1.50 GiB", "8.6 TiB".
std::string memory_size_text(double bytes);

struct MemoryBudget {
  double bytes = 0;
  bool total = false;  // --max-memory or $HOURGLASS_MAX_MEMORY: a total that reservations count against
  std::string source;  // how messages name it: "--max-memory 10M", "$HOURGLASS_MAX_MEMORY=10M", ...
};

// `--max-memory`: the budget for the rest of the process; `spelled` is how messages name it
// ("--max-memory 10M"). clear_max_memory goes back to the environment and the machine.
void set_max_memory(uint64_t bytes, const std::string& spelled);
void clear_max_memory();
// The budget now. A bad $HOURGLASS_MAX_MEMORY is an hg::Error naming the variable.
MemoryBudget memory_budget();
// Bytes reserved by live MemoryCharges, across threads.
uint64_t memory_held();
// What one more allocation may take: the total budget less what is held, or the available memory.
double memory_left();

// Budget reserved for memory that stays allocated, given back when the charge is destroyed. Whoever owns
// the allocation holds its charge (the model its parameters, a plan its arena, a data set its samples).
class MemoryCharge {
 public:
  MemoryCharge() = default;
  ~MemoryCharge();
  MemoryCharge(MemoryCharge&& other) noexcept;
  MemoryCharge& operator=(MemoryCharge&& other) noexcept;
  MemoryCharge(const MemoryCharge&) = delete;
  MemoryCharge& operator=(const MemoryCharge&) = delete;
  uint64_t bytes() const { return bytes_; }
  // Reserves `bytes` more into this charge, checked as reserve_memory checks.
  void add(double bytes, const SourceLocation& where, const std::string& needs,
           const std::string& detail = "");
  // Gives back all but `bytes` (after a load whose peak was reserved, down to what stays).
  void shrink_to(uint64_t bytes);

 private:
  friend MemoryCharge reserve_memory(double, const SourceLocation&, const std::string&, const std::string&);
  uint64_t bytes_ = 0;
};

// The error a refused reservation throws (an hg::Error, so callers may add notes and rethrow it).
class MemoryError : public Error {
 public:
  using Error::Error;
};

// Reserves `bytes` if they fit what memory_left() allows; otherwise throws MemoryError at `where`:
// "<needs> 47.0 MiB, more than the memory budget of 10.0 MiB (--max-memory 10M); <detail>". `needs` ends in
// its verb ("the parameters need", "decompressing the data needs").
MemoryCharge reserve_memory(double bytes, const SourceLocation& where, const std::string& needs,
                            const std::string& detail = "");
// The same check for memory that is freed before the caller returns: nothing stays reserved.
void check_memory(double bytes, const SourceLocation& where, const std::string& needs,
                  const std::string& detail = "");
// The sentence reserve_memory would throw for `bytes`, or nullopt when they fit; reserves nothing.
std::optional<std::string> memory_refusal(double bytes, const std::string& needs,
                                          const std::string& detail = "");

}  // namespace hg
