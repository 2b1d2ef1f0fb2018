// The flags that weigh the names' prior against the model (names.priorWeight and
// names.memberPriorWeight, completion_settings.h), shared by the commands that complete.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace mnemo::server {

/// Adds --name-prior-weight and --member-prior-weight to `cmd`; each writes its setting
/// into `settings_flags` (which must outlive the parse).
void add_name_prior_flags(CLI::App& cmd, nlohmann::json& settings_flags);

}  // namespace mnemo::server
