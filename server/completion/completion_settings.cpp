#include "server/completion/completion_settings.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "server/completion/builtin_model.h"

namespace mnemo::server {
namespace fs = std::filesystem;
using nlohmann::json;

bool CompletionSettings::operator==(const CompletionSettings& o) const {
  return model == o.model && memory_window == o.memory_window && memory_top_k == o.memory_top_k &&
         memory_budget_mb == o.memory_budget_mb &&
         memory_next_token_weight == o.memory_next_token_weight &&
         memory_include == o.memory_include && memory_exclude == o.memory_exclude &&
         prefix_tokens == o.prefix_tokens && suffix_tokens == o.suffix_tokens &&
         declaration_tokens == o.declaration_tokens && hold_names == o.hold_names &&
         name_prior_weight == o.name_prior_weight && member_prior_weight == o.member_prior_weight &&
         debounce == o.debounce && identifier_boost == o.identifier_boost;
}

nlohmann::json settings_json(const CompletionSettings& s) {
  return {
      {"model", s.model.string()},
      {"memory",
       {{"window", s.memory_window},
        {"topK", s.memory_top_k},
        {"budgetMB", s.memory_budget_mb},
        {"nextTokenWeight", s.memory_next_token_weight},
        {"include", s.memory_include},
        {"exclude", s.memory_exclude}}},
      {"prompt",
       {{"prefixTokens", s.prefix_tokens},
        {"suffixTokens", s.suffix_tokens},
        {"declarationTokens", s.declaration_tokens}}},
      {"names",
       {{"hold", s.hold_names},
        {"priorWeight", s.name_prior_weight},
        {"memberPriorWeight", s.member_prior_weight}}},
      {"inline", {{"debounceMs", s.debounce.count()}, {"identifierBoost", s.identifier_boost}}}};
}

namespace {

/// Reads object[name] into `out` when it is an integer in [min, max]; otherwise says why in
/// `problems` (the key named after `prefix`, e.g. "SOURCE: memory.") and leaves `out`.
template <class T>
void read_integer(const json& object, const std::string& name, std::uint64_t min, std::uint64_t max,
                  const std::string& prefix, T& out, std::vector<std::string>& problems) {
  const json& value = object.at(name);
  if (!value.is_number_integer() || value.get<std::int64_t>() < 0 ||
      value.get<std::uint64_t>() < min || value.get<std::uint64_t>() > max) {
    problems.push_back(prefix + name + " must be an integer from " + std::to_string(min) + " to " +
                       std::to_string(max) + ", not " + value.dump() + " (ignored)");
    return;
  }
  out = static_cast<T>(value.get<std::uint64_t>());
}

/// Reads object[name] into `out` when it is a number in [min, max]; otherwise as
/// read_integer.
void read_number(const json& object, const std::string& name, double min, double max,
                 const std::string& prefix, float& out, std::vector<std::string>& problems) {
  const json& value = object.at(name);
  if (!value.is_number() || value.get<double>() < min || value.get<double>() > max) {
    problems.push_back(prefix + name + " must be a number from " + json(min).dump() + " to " +
                       json(max).dump() + ", not " + value.dump() + " (ignored)");
    return;
  }
  out = value.get<float>();
}

/// Reads object[name] into `out` when it is a list of strings; otherwise as read_integer.
void read_strings(const json& object, const std::string& name, const std::string& prefix,
                  std::vector<std::string>& out, std::vector<std::string>& problems) {
  const json& value = object.at(name);
  const bool strings = value.is_array() && std::all_of(value.begin(), value.end(),
                                                       [](const json& v) { return v.is_string(); });
  if (!strings) {
    problems.push_back(prefix + name + " must be a list of strings, not " + value.dump() +
                       " (ignored)");
    return;
  }
  out = value.get<std::vector<std::string>>();
}

/// Reads object[name] into `out` when it is true or false; otherwise as read_integer.
void read_bool(const json& object, const std::string& name, const std::string& prefix, bool& out,
               std::vector<std::string>& problems) {
  const json& value = object.at(name);
  if (!value.is_boolean()) {
    problems.push_back(prefix + name + " must be true or false, not " + value.dump() +
                       " (ignored)");
    return;
  }
  out = value.get<bool>();
}

fs::path expand_path(const std::string& text, const fs::path& base_dir) {
  if (text == "~" || text.rfind("~/", 0) == 0) {
    if (const char* home = std::getenv("HOME"))
      return fs::path(home) / text.substr(text.size() > 1 ? 2 : 1);
  }
  const fs::path path(text);
  return path.is_absolute() || base_dir.empty() ? path : (base_dir / path).lexically_normal();
}

using Reader = void (*)(const json& group, const std::string& key, const std::string& where,
                        CompletionSettings& s, std::vector<std::string>& problems);

struct Key {
  const char* name;
  Reader read;
};

constexpr std::uint64_t kMaxTokens = 1u << 20;

const Key kMemoryKeys[] = {
    {"window",
     [](const json& g, const std::string& k, const std::string& w, CompletionSettings& s,
        std::vector<std::string>& p) {
       read_integer(g, k, 16, kMaxTokens, w, s.memory_window, p);
     }},
    {"topK",
     [](const json& g, const std::string& k, const std::string& w, CompletionSettings& s,
        std::vector<std::string>& p) { read_integer(g, k, 1, 1024, w, s.memory_top_k, p); }},
    {"budgetMB",
     [](const json& g, const std::string& k, const std::string& w, CompletionSettings& s,
        std::vector<std::string>& p) {
       read_integer(g, k, 0, std::uint64_t{1} << 24, w, s.memory_budget_mb, p);
     }},
    {"nextTokenWeight",
     [](const json& g, const std::string& k, const std::string& w, CompletionSettings& s,
        std::vector<std::string>& p) {
       read_number(g, k, 0, 1, w, s.memory_next_token_weight, p);
     }},
    {"include", [](const json& g, const std::string& k, const std::string& w, CompletionSettings& s,
                   std::vector<std::string>& p) { read_strings(g, k, w, s.memory_include, p); }},
    {"exclude", [](const json& g, const std::string& k, const std::string& w, CompletionSettings& s,
                   std::vector<std::string>& p) { read_strings(g, k, w, s.memory_exclude, p); }},
};
const Key kPromptKeys[] = {
    {"prefixTokens",
     [](const json& g, const std::string& k, const std::string& w, CompletionSettings& s,
        std::vector<std::string>& p) { read_integer(g, k, 1, kMaxTokens, w, s.prefix_tokens, p); }},
    {"suffixTokens",
     [](const json& g, const std::string& k, const std::string& w, CompletionSettings& s,
        std::vector<std::string>& p) { read_integer(g, k, 0, kMaxTokens, w, s.suffix_tokens, p); }},
    {"declarationTokens",
     [](const json& g, const std::string& k, const std::string& w, CompletionSettings& s,
        std::vector<std::string>& p) {
       read_integer(g, k, 0, kMaxTokens, w, s.declaration_tokens, p);
     }},
};
const Key kNamesKeys[] = {
    {"hold", [](const json& g, const std::string& k, const std::string& w, CompletionSettings& s,
                std::vector<std::string>& p) { read_bool(g, k, w, s.hold_names, p); }},
    {"priorWeight",
     [](const json& g, const std::string& k, const std::string& w, CompletionSettings& s,
        std::vector<std::string>& p) { read_number(g, k, 0, 100, w, s.name_prior_weight, p); }},
    {"memberPriorWeight",
     [](const json& g, const std::string& k, const std::string& w, CompletionSettings& s,
        std::vector<std::string>& p) { read_number(g, k, 0, 100, w, s.member_prior_weight, p); }},
};
const Key kInlineKeys[] = {
    {"debounceMs",
     [](const json& g, const std::string& k, const std::string& w, CompletionSettings& s,
        std::vector<std::string>& p) {
       std::uint64_t ms = static_cast<std::uint64_t>(s.debounce.count());
       read_integer(g, k, 0, 10000, w, ms, p);
       s.debounce = std::chrono::milliseconds(ms);
     }},
    {"identifierBoost",
     [](const json& g, const std::string& k, const std::string& w, CompletionSettings& s,
        std::vector<std::string>& p) { read_number(g, k, 0, 100, w, s.identifier_boost, p); }},
};

template <std::size_t N>
void apply_group(const json& group, const std::string& group_name, const Key (&keys)[N],
                 const std::string& source, CompletionSettings& settings,
                 std::vector<std::string>& problems) {
  const std::string where = source + ": " + group_name;
  if (!group.is_object()) {
    problems.push_back(where + " must be an object (ignored)");
    return;
  }
  for (const auto& [name, value] : group.items()) {
    bool known = false;
    for (const Key& key : keys) {
      if (name != key.name) continue;
      known = true;
      key.read(group, name, where + ".", settings, problems);
    }
    if (!known) problems.push_back(where + "." + name + " is not a setting (ignored)");
  }
}

}  // namespace

std::vector<std::string> apply_settings(const json& layer, const std::string& source,
                                        const fs::path& base_dir, CompletionSettings& settings) {
  std::vector<std::string> problems;
  if (layer.is_null()) return problems;
  if (!layer.is_object()) {
    problems.push_back(source + " must be a JSON object (ignored)");
    return problems;
  }
  for (const auto& [name, value] : layer.items()) {
    if (name == "model") {
      if (value.is_string()) {
        settings.model = value.get<std::string>().empty()
                             ? fs::path()
                             : expand_path(value.get<std::string>(), base_dir);
      } else {
        problems.push_back(source + ": model must be a path (ignored)");
      }
    } else if (name == "memory") {
      apply_group(value, name, kMemoryKeys, source, settings, problems);
    } else if (name == "prompt") {
      apply_group(value, name, kPromptKeys, source, settings, problems);
    } else if (name == "names") {
      apply_group(value, name, kNamesKeys, source, settings, problems);
    } else if (name == "inline") {
      apply_group(value, name, kInlineKeys, source, settings, problems);
    } else {
      problems.push_back(source + ": " + name + " is not a setting (ignored)");
    }
  }
  return problems;
}

Result<std::optional<json>, SettingsFileError> read_repository_settings(const fs::path& root) {
  const fs::path file = root / ".mnemo" / "config.json";
  std::error_code ec;
  if (!fs::exists(file, ec)) return success(std::optional<json>());
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  if (fs::is_directory(file, ec) || !in || !(text << in.rdbuf()))
    return SettingsFileError{file.string() + ": cannot be read"};
  json parsed =
      json::parse(text.str(), nullptr, /*allow_exceptions=*/false, /*ignore_comments=*/true);
  if (parsed.is_discarded()) return SettingsFileError{file.string() + ": not valid JSON"};
  if (!parsed.is_object()) return SettingsFileError{file.string() + ": not a JSON object"};
  return success(std::optional<json>(std::move(parsed)));
}

CompletionSettings resolve_settings(const fs::path& root, const json& client, const json& flags,
                                    std::vector<std::string>& problems) {
  CompletionSettings settings;
  settings.model = builtin_model_dir();
  const auto append = [&](std::vector<std::string> more) {
    problems.insert(problems.end(), more.begin(), more.end());
  };
  if (!root.empty()) {
    auto file = read_repository_settings(root);
    if (!file) {
      problems.push_back(file.error().message + " (ignored)");
    } else if (file.value()) {
      append(apply_settings(*file.value(), (root / ".mnemo" / "config.json").string(), root,
                            settings));
    }
  }
  append(apply_settings(client, "initializationOptions", root, settings));
  append(apply_settings(flags, "the command line", fs::path(), settings));
  return settings;
}

}  // namespace mnemo::server
