// Replacing a file so that a crash at any moment leaves either the old or the new contents, never a torn
// mix: a temporary file beside it, fsync, rename over it, fsync of the folder. Temporary files that a
// killed writer left behind are removed by the next write of the same file.
#pragma once

#include <functional>
#include <string>

namespace hg {

// Writes `path` through `write(fd)`, which must write everything or throw. The temporary file is
// "<path>.<pid>.tmp", so two processes writing the same path never share one; before writing, such files
// of processes that no longer run (and the older "<path>.tmp") are deleted. Errors are hg::Errors at path.
void write_file_atomically(const std::string& path, const std::function<void(int fd)>& write);

// write(2) until all `size` bytes are written; an error is an hg::Error at `path` saying `what` failed.
void write_all(int fd, const void* data, size_t size, const std::string& path, const std::string& what);

}  // namespace hg
