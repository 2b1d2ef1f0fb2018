// The evaluation's metrics, as CrossCodeEval defines them for code, plus
// the bootstrap interval every reported mean carries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mnemo::server {

/// C/C++ text for comparison: comments removed (`//` and `/* */`, not inside string or
/// character literals), each line stripped, empty lines dropped, lines joined by "\n".
std::string normalized_code(std::string_view text);

/// normalized_code(prediction) == normalized_code(reference).
bool exact_match(std::string_view prediction, std::string_view reference);

/// The Levenshtein ratio in [0, 100] as python-Levenshtein's `ratio` (fuzzywuzzy's
/// `fuzz.ratio` before rounding, what CrossCodeEval reports): 100 (|a| + |b| - d) / (|a| +
/// |b|), d the edit distance in bytes where a substitution costs 2; 100 for two empty texts.
double edit_similarity(std::string_view a, std::string_view b);

/// The identifiers of a text in order (C-like names, not keywords-filtered, not numbers).
std::vector<std::string> identifiers_in(std::string_view text);

struct IdentifierMatch {
  bool exact = false;  ///< the same identifiers in the same order
  double f1 = 0;       ///< over the identifiers as multisets; 1 when both have none
};
IdentifierMatch identifier_match(std::string_view prediction, std::string_view reference);

/// The 1-based rank of `answer` among `ranked` (best first); 0 when it is not there.
std::size_t rank_of(const std::vector<std::string>& ranked, const std::string& answer);
/// 1 / rank, or 0 when not ranked.
double reciprocal_rank(std::size_t rank);

/// The `q`-quantile of `values` (q in [0, 1]): the value at rank floor(q n) of the sorted
/// values, the largest for q = 1; 0 for none.
double percentile(std::vector<double> values, double q);

struct Interval {
  double mean = 0, low = 0, high = 0;
};
/// The mean of `values` with its percentile bootstrap 95% interval (`resamples` resamples of
/// the same size, drawn with `seed`); all three equal for fewer than 2 values.
Interval bootstrap_mean(const std::vector<double>& values, std::uint64_t seed = 1,
                        std::size_t resamples = 1000);
/// The macro-average of groups (repositories): the mean of the non-empty groups' means, with
/// a percentile bootstrap 95% interval whose resamples draw each group's values from that
/// group (stratified), so every group keeps its weight. One group: bootstrap_mean.
Interval bootstrap_macro_mean(const std::vector<std::vector<double>>& groups,
                              std::uint64_t seed = 1, std::size_t resamples = 1000);

}  // namespace mnemo::server
