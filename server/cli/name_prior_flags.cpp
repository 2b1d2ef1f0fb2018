#include "server/cli/name_prior_flags.h"

namespace mnemo::server {

void add_name_prior_flags(CLI::App& cmd, nlohmann::json& settings_flags) {
  cmd.add_option_function<double>(
      "--name-prior-weight",
      [&settings_flags](double w) { settings_flags["names"]["priorWeight"] = w; },
      "how much the names' prior weighs against the model when they are ranked, at the sites "
      "other than member accesses (default 1)");
  cmd.add_option_function<double>(
      "--member-prior-weight",
      [&settings_flags](double w) { settings_flags["names"]["memberPriorWeight"] = w; },
      "the same at member accesses (after `.`, `->`, `::`; default 1.75)");
}

}  // namespace mnemo::server
