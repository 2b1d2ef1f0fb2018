#include "server/eval/eval_metrics.h"

#include <algorithm>
#include <map>
#include <random>

#include "server/text/identifier_scan.h"

namespace mnemo::server {
namespace {

/// `text` without comments; string and character literals are kept as they are.
std::string without_comments(std::string_view text) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '"' || c == '\'') {
      // A literal: up to its closing quote (escapes skipped) or the end of its line.
      out += c;
      ++i;
      while (i < text.size() && text[i] != c && text[i] != '\n') {
        if (text[i] == '\\' && i + 1 < text.size()) out += text[i++];
        out += text[i++];
      }
      if (i < text.size() && text[i] == c) out += text[i++];
    } else if (text.compare(i, 2, "//") == 0) {
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (text.compare(i, 2, "/*") == 0) {
      const std::size_t end = text.find("*/", i + 2);
      i = end == std::string_view::npos ? text.size() : end + 2;
      out += ' ';  // a comment separates what it stood between
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

}  // namespace

std::string normalized_code(std::string_view text) {
  const std::string code = without_comments(text);
  std::string out;
  std::size_t start = 0;
  while (start <= code.size()) {
    std::size_t end = code.find('\n', start);
    if (end == std::string::npos) end = code.size();
    std::string_view line(code.data() + start, end - start);
    const std::size_t first = line.find_first_not_of(" \t\r\f\v");
    if (first != std::string_view::npos) {
      const std::size_t last = line.find_last_not_of(" \t\r\f\v");
      if (!out.empty()) out += '\n';
      out.append(line.substr(first, last - first + 1));
    }
    start = end + 1;
  }
  return out;
}

bool exact_match(std::string_view prediction, std::string_view reference) {
  return normalized_code(prediction) == normalized_code(reference);
}

double edit_similarity(std::string_view a, std::string_view b) {
  const std::size_t total = a.size() + b.size();
  if (total == 0) return 100.0;
  // Levenshtein with substitution cost 2 (an insertion plus a deletion), two rows.
  std::vector<std::size_t> previous(b.size() + 1), current(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t substitute = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 2);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitute});
    }
    std::swap(previous, current);
  }
  return 100.0 * static_cast<double>(total - previous[b.size()]) / static_cast<double>(total);
}

std::vector<std::string> identifiers_in(std::string_view text) {
  std::vector<std::string> out;
  for_each_identifier(
      text, [&](std::string_view name, std::size_t, std::size_t) { out.emplace_back(name); });
  return out;
}

IdentifierMatch identifier_match(std::string_view prediction, std::string_view reference) {
  const std::vector<std::string> predicted = identifiers_in(without_comments(prediction));
  const std::vector<std::string> expected = identifiers_in(without_comments(reference));
  IdentifierMatch match;
  match.exact = predicted == expected;
  if (predicted.empty() && expected.empty()) {
    match.f1 = 1;
    return match;
  }
  std::map<std::string, std::size_t> counts;
  for (const std::string& id : expected) ++counts[id];
  std::size_t common = 0;
  for (const std::string& id : predicted) {
    auto found = counts.find(id);
    if (found != counts.end() && found->second > 0) {
      --found->second;
      ++common;
    }
  }
  if (common == 0) return match;
  const double precision = static_cast<double>(common) / static_cast<double>(predicted.size());
  const double recall = static_cast<double>(common) / static_cast<double>(expected.size());
  match.f1 = 2 * precision * recall / (precision + recall);
  return match;
}

std::size_t rank_of(const std::vector<std::string>& ranked, const std::string& answer) {
  const auto found = std::find(ranked.begin(), ranked.end(), answer);
  return found == ranked.end() ? 0 : static_cast<std::size_t>(found - ranked.begin()) + 1;
}

double reciprocal_rank(std::size_t rank) {
  return rank == 0 ? 0.0 : 1.0 / static_cast<double>(rank);
}

double percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1,
                         static_cast<std::size_t>(q * static_cast<double>(values.size())))];
}

Interval bootstrap_mean(const std::vector<double>& values, std::uint64_t seed,
                        std::size_t resamples) {
  return bootstrap_macro_mean({values}, seed, resamples);
}

Interval bootstrap_macro_mean(const std::vector<std::vector<double>>& groups, std::uint64_t seed,
                              std::size_t resamples) {
  Interval out;
  std::vector<const std::vector<double>*> present;
  for (const std::vector<double>& g : groups)
    if (!g.empty()) present.push_back(&g);
  if (present.empty()) return out;
  const auto mean_of = [](const std::vector<double>& values) {
    double sum = 0;
    for (const double v : values) sum += v;
    return sum / static_cast<double>(values.size());
  };
  double total = 0;
  bool varies = false;
  for (const std::vector<double>* g : present) {
    total += mean_of(*g);
    varies = varies || g->size() >= 2;
  }
  out.mean = out.low = out.high = total / static_cast<double>(present.size());
  if (!varies || resamples == 0) return out;
  std::mt19937_64 random(seed);
  std::vector<double> means(resamples);
  for (double& m : means) {
    double sum_of_means = 0;
    for (const std::vector<double>* g : present) {
      std::uniform_int_distribution<std::size_t> pick(0, g->size() - 1);
      double s = 0;
      for (std::size_t i = 0; i < g->size(); ++i) s += (*g)[pick(random)];
      sum_of_means += s / static_cast<double>(g->size());
    }
    m = sum_of_means / static_cast<double>(present.size());
  }
  out.low = percentile(means, 0.025);
  out.high = percentile(means, 0.975);
  return out;
}

}  // namespace mnemo::server
