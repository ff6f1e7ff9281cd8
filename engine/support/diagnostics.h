// Source locations and user-facing diagnostics. Every error a user can cause is reported as
// `file:line:col: error: message` with optional `note:` lines; the engine throws hg::Error carrying
// them and only tools/ turns that into an exit code.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace hg {

struct SourceLocation {
  std::string file;         // as the user named it
  int line = 0;             // 1-based; 0 means "the whole file" or unknown
  int column = 0;           // 1-based
  std::string str() const;  // "file:line:col", or "file" when line is 0
};

enum class Severity { Error, Note };

struct Diagnostic {
  Severity severity = Severity::Error;
  SourceLocation where;
  std::string message;
  std::vector<Diagnostic> notes;  // related places, printed after the error
  std::string str() const;        // all lines, each ending in '\n'
};

// Collects diagnostics so a pass can report all errors rather than stop at the first.
class DiagnosticSink {
 public:
  Diagnostic& error(SourceLocation where, std::string message);
  bool has_errors() const { return !diagnostics_.empty(); }
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }
  void throw_if_errors() const;  // throws Error with everything collected so far
  size_t count() const { return diagnostics_.size(); }
  // Adds a note to every error reported since count() was `first` (e.g. "in template 'block' used here").
  void note_since(size_t first, const SourceLocation& where, const std::string& message);

 private:
  std::vector<Diagnostic> diagnostics_;
};

class Error : public std::runtime_error {
 public:
  explicit Error(std::vector<Diagnostic> diagnostics);
  Error(SourceLocation where, std::string message);
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

 private:
  std::vector<Diagnostic> diagnostics_;
};

// Up to `max` candidates close to `name` (edit distance), best first, for "did you mean" hints.
std::vector<std::string> closest_names(const std::string& name, const std::vector<std::string>& candidates,
                                       size_t max = 3);
// " (did you mean 'a' or 'b'?)" or "" when nothing is close.
std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates);

// An internal invariant; failure is a bug in hourglass, reported with the place in the engine's source.
#define HG_ASSERT(cond, msg)                                                          \
  do {                                                                                \
    if (!(cond))                                                                      \
      throw std::logic_error(std::string(__FILE__) + ":" + std::to_string(__LINE__) + \
                             ": internal error: " #cond ": " + (msg));                \
  } while (0)

}  // namespace hg
