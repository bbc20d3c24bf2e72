// Files on the relay's host named by a pipeline defined in SQL: only under a directory the operator
// chose (config/host_access.h). Paths are compared once symlinks and ".." are resolved, so a link
// or a "../" inside the directory cannot lead out of it.
#pragma once

#include <string>
#include <string_view>

#include "relay/result.h"

namespace relay {

// The real path of the regular file `path` if it lies under `dir` (`setting` names the flag that
// sets `dir`, for the refusal). `what` says where the path came from, e.g. "${FILE:/x}" or
// "key \"tls_ca\""; errors name it and the setting, never the file's content.
Result<std::string> readable_file_under(const std::string& dir, const std::string& path, std::string_view what,
                                        std::string_view setting);

// Whether the real path of `dir` is, or contains, the real path of the directory holding `path`
// (which need not exist yet). The caller opens `path` without following a final symlink.
Status parent_under(const std::string& dir, const std::string& path, std::string_view what, std::string_view setting);

}  // namespace relay
