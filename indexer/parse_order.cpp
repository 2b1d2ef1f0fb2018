#include "indexer/parse_order.h"

#include <algorithm>
#include <cctype>
#include <unordered_map>
#include <unordered_set>

#include "indexer/compile_flags.h"

namespace mnemo::indexer {
namespace {

std::string_view basename_of(std::string_view path) {
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

}  // namespace

std::vector<std::string> included_names(std::string_view text) {
  std::vector<std::string> names;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    std::size_t i = 0;
    while (i < line.size() && is_space(line[i])) ++i;
    if (i >= line.size() || line[i] != '#') continue;
    ++i;
    while (i < line.size() && is_space(line[i])) ++i;
    const std::string_view rest = line.substr(i);
    std::size_t word = 0;
    if (rest.substr(0, 7) == "include") {
      word = 7;
    } else if (rest.substr(0, 6) == "import") {
      word = 6;
    } else {
      continue;
    }
    i += word;
    while (i < line.size() && is_space(line[i])) ++i;
    if (i >= line.size() || (line[i] != '<' && line[i] != '"')) continue;
    const char close = line[i] == '<' ? '>' : '"';
    const std::size_t close_at = line.find(close, i + 1);
    if (close_at == std::string_view::npos || close_at == i + 1) continue;
    names.emplace_back(line.substr(i + 1, close_at - i - 1));
  }
  return names;
}

std::vector<std::string> parse_order(const std::vector<std::string>& paths,
                                     const std::vector<std::vector<std::string>>& includes) {
  std::unordered_map<std::string_view, std::vector<std::size_t>> by_basename;
  for (std::size_t i = 0; i < paths.size(); ++i) by_basename[basename_of(paths[i])].push_back(i);
  std::vector<bool> included(paths.size(), false);
  std::unordered_set<std::string_view> seen;
  for (const auto& names : includes) {
    for (const std::string& name : names) {
      if (!seen.insert(name).second) continue;
      const auto candidates = by_basename.find(basename_of(name));
      if (candidates == by_basename.end()) continue;
      for (const std::size_t i : candidates->second) {
        const std::string& p = paths[i];
        if (p.size() < name.size() || p.compare(p.size() - name.size(), name.size(), name) != 0)
          continue;
        if (p.size() == name.size() || p[p.size() - name.size() - 1] == '/') included[i] = true;
      }
    }
  }
  // 0: sources; 1: headers nothing includes; 2: the other headers.
  const auto group = [&](std::size_t i) {
    if (!has_header_extension(paths[i])) return 0;
    return included[i] ? 2 : 1;
  };
  std::vector<std::size_t> order(paths.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const int ga = group(a), gb = group(b);
    return ga != gb ? ga < gb : paths[a] < paths[b];
  });
  std::vector<std::string> out;
  out.reserve(order.size());
  for (const std::size_t i : order) out.push_back(paths[i]);
  return out;
}

}  // namespace mnemo::indexer
