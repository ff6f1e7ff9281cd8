// The process-wide memory budget and the reservations held against it.
#include "support/memory_budget.h"

#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>

namespace hg {

namespace {

constexpr double kMaxSize = double(uint64_t(1) << 60);

struct Ledger {
  std::mutex mutex;
  uint64_t held = 0;
  std::optional<uint64_t> max_memory;  // --max-memory
  std::string spelled;
};

Ledger& ledger() {
  static Ledger l;
  return l;
}

// MemAvailable: what the kernel estimates can be allocated without swapping, page cache included.
std::optional<double> available_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  double value = 0;
  while (in >> key >> value) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return value * 1024;  // the kernel writes kB and means KiB
  }
  return std::nullopt;
}

double physical_memory() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? double(pages) * double(page) : kMaxSize;
}

// Reserves under the ledger's lock, so that two threads cannot both take the last of the budget.
std::optional<std::string> reserve(double bytes, const std::string& needs, const std::string& detail,
                                   bool keep) {
  if (bytes < 0) bytes = 0;
  const MemoryBudget budget = memory_budget();  // reads the environment and /proc: outside the lock
  Ledger& l = ledger();
  std::lock_guard<std::mutex> lock(l.mutex);
  const double held = double(l.held);
  const double left = budget.total ? std::max(budget.bytes - held, 0.0) : budget.bytes;
  if (!(bytes <= left)) {  // a NaN is refused too
    std::string text = needs + " " + memory_size_text(bytes) + ", more than ";
    if (!budget.total)
      text += "the " + memory_size_text(budget.bytes) + " of memory " + budget.source;
    else if (held > 0)
      text += "the " + memory_size_text(left) + " left of the memory budget of " +
              memory_size_text(budget.bytes) + " (" + budget.source + ") after the " +
              memory_size_text(held) + " already held";
    else
      text += "the memory budget of " + memory_size_text(budget.bytes) + " (" + budget.source + ")";
    return text + (detail.empty() ? "" : "; " + detail) +
           (budget.total ? "" : "; --max-memory SIZE sets a budget instead");
  }
  if (keep) l.held += uint64_t(bytes);
  return std::nullopt;
}

}  // namespace

std::optional<uint64_t> parse_memory_size(const std::string& text) {
  size_t i = 0;
  double value = 0, scale = 1;
  bool digits = false;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i, digits = true)
    value = value * 10 + (text[i] - '0');
  if (i < text.size() && text[i] == '.')
    for (++i; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i, digits = true)
      value += (text[i] - '0') * (scale /= 10);
  if (!digits) return std::nullopt;
  std::string unit;
  for (; i < text.size(); ++i) unit += char(std::tolower(static_cast<unsigned char>(text[i])));
  double multiplier = 1;
  if (!unit.empty() && unit != "b") {
    const size_t power = std::string("kmgt").find(unit[0]);
    if (power == std::string::npos) return std::nullopt;
    const std::string rest = unit.substr(1);
    if (!rest.empty() && rest != "b" && rest != "ib") return std::nullopt;
    multiplier = std::ldexp(1.0, 10 * int(power + 1));
  }
  const double bytes = std::floor(value * multiplier);
  if (!(bytes >= 1 && bytes <= kMaxSize)) return std::nullopt;
  return uint64_t(bytes);
}

std::string memory_size_text(double bytes) {
  char text[48];
  if (!(bytes >= 1024)) {
    std::snprintf(text, sizeof text, "%.0f bytes", bytes);
    return text;
  }
  static const char* const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int unit = 0;
  bytes /= 1024;
  while (bytes >= 1024 && unit < 5) {
    bytes /= 1024;
    ++unit;
  }
  std::snprintf(text, sizeof text, unit == 2 ? "%.2f %s" : "%.1f %s", bytes, units[unit]);
  return text;
}

void set_max_memory(uint64_t bytes, const std::string& spelled) {
  Ledger& l = ledger();
  std::lock_guard<std::mutex> lock(l.mutex);
  l.max_memory = bytes;
  l.spelled = spelled;
}

void clear_max_memory() {
  Ledger& l = ledger();
  std::lock_guard<std::mutex> lock(l.mutex);
  l.max_memory.reset();
  l.spelled.clear();
}

MemoryBudget memory_budget() {
  {
    Ledger& l = ledger();
    std::lock_guard<std::mutex> lock(l.mutex);
    if (l.max_memory) return {double(*l.max_memory), true, l.spelled};
  }
  if (const char* env = std::getenv("HOURGLASS_MAX_MEMORY"); env && *env) {
    const std::optional<uint64_t> bytes = parse_memory_size(env);
    if (!bytes)
      throw Error({"$HOURGLASS_MAX_MEMORY", 0, 0},
                  "'" + std::string(env) +
                      "' is not a memory size: give bytes, or a number with K, M, G or T (512M, 1.5G)");
    return {double(*bytes), true,
            "$HOURGLASS_MAX_MEMORY=" + std::string(env) + ", which --max-memory overrides"};
  }
  if (const std::optional<double> available = available_memory())
    return {*available, false, "this machine has available (MemAvailable in /proc/meminfo)"};
  return {physical_memory(), false, "in this machine"};
}

uint64_t memory_held() {
  Ledger& l = ledger();
  std::lock_guard<std::mutex> lock(l.mutex);
  return l.held;
}

double memory_left() {
  const MemoryBudget budget = memory_budget();
  return budget.total ? std::max(budget.bytes - double(memory_held()), 0.0) : budget.bytes;
}

MemoryCharge::~MemoryCharge() {
  if (bytes_ == 0) return;
  Ledger& l = ledger();
  std::lock_guard<std::mutex> lock(l.mutex);
  l.held -= std::min(l.held, bytes_);
}

MemoryCharge::MemoryCharge(MemoryCharge&& other) noexcept : bytes_(other.bytes_) {
  other.bytes_ = 0;
}

MemoryCharge& MemoryCharge::operator=(MemoryCharge&& other) noexcept {
  if (this != &other) {
    MemoryCharge released(std::move(*this));
    bytes_ = other.bytes_;
    other.bytes_ = 0;
  }
  return *this;
}

void MemoryCharge::add(double bytes, const SourceLocation& where, const std::string& needs,
                       const std::string& detail) {
  MemoryCharge more = reserve_memory(bytes, where, needs, detail);
  bytes_ += more.bytes_;
  more.bytes_ = 0;
}

void MemoryCharge::shrink_to(uint64_t bytes) {
  if (bytes >= bytes_) return;
  Ledger& l = ledger();
  std::lock_guard<std::mutex> lock(l.mutex);
  l.held -= std::min(l.held, bytes_ - bytes);
  bytes_ = bytes;
}

std::optional<std::string> memory_refusal(double bytes, const std::string& needs, const std::string& detail) {
  return reserve(bytes, needs, detail, false);
}

MemoryCharge reserve_memory(double bytes, const SourceLocation& where, const std::string& needs,
                            const std::string& detail) {
  if (std::optional<std::string> refusal = reserve(bytes, needs, detail, true))
    throw MemoryError(where, *refusal);
  MemoryCharge charge;
  charge.bytes_ = uint64_t(bytes);
  return charge;
}

void check_memory(double bytes, const SourceLocation& where, const std::string& needs,
                  const std::string& detail) {
  if (std::optional<std::string> refusal = memory_refusal(bytes, needs, detail))
    throw MemoryError(where, *refusal);
}

}  // namespace hg
