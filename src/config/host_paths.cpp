#include "config/host_paths.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

namespace relay {
namespace {

// realpath(3) as a string; empty when the path cannot be resolved.
std::string real_path(const std::string& path) {
  char buf[PATH_MAX];
  return ::realpath(path.c_str(), buf) ? std::string(buf) : std::string();
}

bool inside(const std::string& real_dir, const std::string& real) {
  if (real_dir == "/") return real.size() > 1 && real.front() == '/';
  return real.size() > real_dir.size() && real.compare(0, real_dir.size(), real_dir) == 0 && real[real_dir.size()] == '/';
}

Result<std::string> real_dir_of(const std::string& dir, std::string_view what, std::string_view setting) {
  if (dir.empty())
    return fatal(fmt::format("{}: a pipeline defined in SQL may not name files on the relay's host unless the operator "
                             "allows a directory with {}", what, setting));
  std::string real = real_path(dir);
  if (real.empty())
    return fatal(fmt::format("{}: the directory {} given with {} cannot be resolved: {}", what, dir, setting, std::strerror(errno)));
  return real;
}

}  // namespace

Result<std::string> readable_file_under(const std::string& dir, const std::string& path, std::string_view what,
                                        std::string_view setting) {
  auto real_dir = real_dir_of(dir, what, setting);
  if (!real_dir) return real_dir.error();
  std::string real = real_path(path);
  // A file not there (yet) under the directory, named without "..": the backend that opens it says
  // it cannot read it, as for any pipeline.
  if (real.empty() && errno == ENOENT && path.find("/..") == std::string::npos &&
      (inside(*real_dir, path) || inside(dir, path)))
    return path;
  if (real.empty() || !inside(*real_dir, real))
    return fatal(fmt::format("{}: a pipeline defined in SQL may only name files under {} (the operator's {}); {} is not "
                             "one of them", what, dir, setting, path));
  struct stat st {};
  if (::stat(real.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return fatal(fmt::format("{}: {} is not a regular file (a pipeline defined in SQL may only name regular files under {})",
                             what, path, setting));
  return real;
}

Status parent_under(const std::string& dir, const std::string& path, std::string_view what, std::string_view setting) {
  auto real_dir = real_dir_of(dir, what, setting);
  if (!real_dir) return real_dir.error();
  auto slash = path.rfind('/');
  std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  std::string real = real_path(parent);
  // A directory not there (yet): nothing is opened, and it is looked at again on the next try.
  if (real.empty() && errno == ENOENT)
    return retriable(fmt::format("cannot open {}: the directory {} does not exist (a pipeline defined in SQL writes only "
                                 "under {}, the operator's {})", path, parent, dir, setting));
  if (name.empty() || name == "." || name == ".." || real.empty() || (real != *real_dir && !inside(*real_dir, real)))
    return fatal(fmt::format("{}: a pipeline defined in SQL may only write files under {} (the operator's {}); {} is not "
                             "one of them", what, dir, setting, path));
  return {};
}

}  // namespace relay
