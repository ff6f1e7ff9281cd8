// Atomic file replacement (temporary file, fsync, rename, fsync of the folder) and the clean-up of the
// temporary files that writers killed half-way left behind.
#include "runtime/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>

#include "support/diagnostics.h"

namespace hg {

namespace fs = std::filesystem;

void write_all(int fd, const void* data, size_t size, const std::string& path, const std::string& what) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error({path, 0, 0}, "cannot write " + what + ": " + std::string(std::strerror(errno)));
    p += n;
    size -= size_t(n);
  }
}

namespace {

// "<name>.<pid>.tmp" -> pid, or 0 when `file` is not a temporary file of `name`.
pid_t writer_of(const std::string& file, const std::string& name) {
  const std::string prefix = name + ".", suffix = ".tmp";
  if (file.size() <= prefix.size() + suffix.size() || file.compare(0, prefix.size(), prefix) != 0 ||
      file.compare(file.size() - suffix.size(), suffix.size(), suffix) != 0)
    return 0;
  const std::string digits = file.substr(prefix.size(), file.size() - prefix.size() - suffix.size());
  if (digits.empty() || digits.size() > 10 || digits.find_first_not_of("0123456789") != std::string::npos)
    return 0;
  const long long pid = std::stoll(digits);
  return pid <= INT32_MAX ? pid_t(pid) : 0;
}

// A kill between creating the temporary file and the rename leaves it behind (as large as the file); the
// next write removes those whose writer is gone. A live writer's file is left alone: it may be mid-write.
void remove_stale_temporaries(const fs::path& target) {
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string name = target.filename().string();
  std::error_code ec;
  fs::remove(folder / (name + ".tmp"), ec);  // the single name older versions used
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const pid_t pid = writer_of(it->path().filename().string(), name);
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) fs::remove(it->path(), ec);
  }
}

}  // namespace

void write_file_atomically(const std::string& path, const std::function<void(int fd)>& write) {
  const fs::path target(path);
  const SourceLocation where{path, 0, 0};
  std::error_code ec;
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
  if (ec)
    throw Error(where, "cannot create the folder " + target.parent_path().string() + ": " + ec.message());
  remove_stale_temporaries(target);
  const std::string temporary = path + "." + std::to_string(::getpid()) + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(where, "cannot write " + temporary + ": " + std::string(std::strerror(errno)));
  try {
    write(fd);
    if (::fsync(fd) != 0) throw Error(where, "cannot sync " + temporary + ": " + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(temporary.c_str());
    throw;
  }
  ::close(fd);
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(temporary.c_str());
    throw Error(where, "cannot replace the file: " + std::string(std::strerror(saved)));
  }
  const std::string folder = target.has_parent_path() ? target.parent_path().string() : ".";
  if (const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    ::fsync(dir);  // makes the rename itself durable
    ::close(dir);
  }
}

}  // namespace hg
