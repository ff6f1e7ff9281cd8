// Formatting of diagnostics and the edit-distance suggestions behind "did you mean".
#include "support/diagnostics.h"

#include <algorithm>

namespace hg {

std::string SourceLocation::str() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string Diagnostic::str() const {
  std::string out = where.str() + (severity == Severity::Error ? ": error: " : ": note: ") + message + "\n";
  for (const Diagnostic& note : notes) out += note.str();
  return out;
}

Diagnostic& DiagnosticSink::error(SourceLocation where, std::string message) {
  diagnostics_.push_back({Severity::Error, std::move(where), std::move(message), {}});
  return diagnostics_.back();
}

void DiagnosticSink::note_since(size_t first, const SourceLocation& where, const std::string& message) {
  for (size_t i = first; i < diagnostics_.size(); ++i)
    diagnostics_[i].notes.push_back({Severity::Note, where, message, {}});
}

void DiagnosticSink::throw_if_errors() const {
  if (has_errors()) throw Error(diagnostics_);
}

static std::string join_messages(const std::vector<Diagnostic>& diagnostics) {
  std::string out;
  for (const Diagnostic& d : diagnostics) out += d.str();
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

Error::Error(std::vector<Diagnostic> diagnostics)
    : std::runtime_error(join_messages(diagnostics)), diagnostics_(std::move(diagnostics)) {}

Error::Error(SourceLocation where, std::string message)
    : Error(std::vector<Diagnostic>{{Severity::Error, std::move(where), std::move(message), {}}}) {}

static size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::vector<std::string> closest_names(const std::string& name, const std::vector<std::string>& candidates,
                                       size_t max) {
  std::vector<std::pair<size_t, std::string>> scored;
  const size_t limit = std::max<size_t>(2, name.size() / 3);
  for (const std::string& c : candidates) {
    const size_t d = edit_distance(name, c);
    if (d <= limit && c != name) scored.emplace_back(d, c);
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<std::string> out;
  for (size_t i = 0; i < scored.size() && out.size() < max; ++i)
    if (std::find(out.begin(), out.end(), scored[i].second) == out.end()) out.push_back(scored[i].second);
  return out;
}

std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates) {
  const std::vector<std::string> close = closest_names(name, candidates);
  if (close.empty()) return "";
  std::string out = " (did you mean ";
  for (size_t i = 0; i < close.size(); ++i) {
    if (i) out += i + 1 == close.size() ? " or " : ", ";
    out += "'" + close[i] + "'";
  }
  return out + "?)";
}

}  // namespace hg
