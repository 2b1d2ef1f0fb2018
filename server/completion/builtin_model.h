// Where mnemo's own model lives: the folder model/builtin of the source tree
// (weights, config and tokenizer, as `mnemo train` exports them), used whenever no other
// model is configured, so that a fresh build completes code with nothing else.
#pragma once

#include <filesystem>

namespace mnemo::server {

/// The built-in model's folder: PREFIX/share/mnemo/model beside an installed executable,
/// else the source tree's model/builtin this build was configured from; empty when neither
/// holds its weights (a checkout without them, or an install that left them out).
std::filesystem::path builtin_model_dir();

}  // namespace mnemo::server
