#include "server/eval/eval_report.h"

#include <cstdio>
#include <sstream>
#include <utility>

#include "server/eval/eval_metrics.h"

namespace mnemo::server {
using nlohmann::json;

namespace {

struct Metric {
  const char* key;
  double CaseScores::*field;
  bool line;           ///< a line-level metric
  const char* header;  ///< in the tables
  double scale;        ///< shown as scale * value
};

const std::vector<Metric>& metrics() {
  static const std::vector<Metric> all{
      {"identifier_top1", &CaseScores::top1, false, "id top-1 %", 100},
      {"identifier_top5", &CaseScores::top5, false, "id top-5 %", 100},
      {"identifier_mrr", &CaseScores::mrr, false, "id MRR", 1},
      {"line_exact_match", &CaseScores::em, true, "line EM %", 100},
      {"line_edit_similarity", &CaseScores::es, true, "line ES", 1},
      {"line_identifier_em", &CaseScores::id_em, true, "line id EM %", 100},
      {"line_identifier_f1", &CaseScores::id_f1, true, "line id F1 %", 100},
  };
  return all;
}

std::vector<double> column(const std::vector<CaseScores>& scores, double CaseScores::*field) {
  std::vector<double> v;
  v.reserve(scores.size());
  for (const CaseScores& s : scores) v.push_back(s.*field);
  return v;
}

const std::vector<CaseScores>& group_of(const RepositoryScores& scores,
                                        const std::string& condition, const std::string& group) {
  static const std::vector<CaseScores> none;
  const auto c = scores.find(condition);
  if (c == scores.end()) return none;
  const auto g = c->second.find(group);
  return g == c->second.end() ? none : g->second;
}

/// The summary of one condition's group over the repositories' cases (one repository:
/// that repository's summary).
json summarize_group(const std::vector<const std::vector<CaseScores>*>& repositories,
                     std::uint64_t seed) {
  std::size_t n = 0, read_memory = 0;
  bool wrote_lines = false;
  std::vector<CaseScores> pooled;
  for (const auto* scores : repositories) {
    n += scores->size();
    for (const CaseScores& s : *scores) {
      read_memory += s.read_memory ? 1 : 0;
      wrote_lines = wrote_lines || s.wrote_line;
    }
    pooled.insert(pooled.end(), scores->begin(), scores->end());
  }
  json out = {{"n", n}};
  for (const Metric& m : metrics()) {
    if (m.line && !wrote_lines) continue;
    std::vector<std::vector<double>> groups;
    for (const auto* scores : repositories) groups.push_back(column(*scores, m.field));
    out[m.key] = interval_json(bootstrap_macro_mean(groups, seed));
  }
  if (wrote_lines) {
    out["latency_p50_ms"] = percentile(column(pooled, &CaseScores::latency_ms), 0.5);
    out["latency_p95_ms"] = percentile(column(pooled, &CaseScores::latency_ms), 0.95);
    out["cases_that_read_memory"] = read_memory;
  }
  return out;
}

/// A lever's gain over the same system without it, paired by case (each case's score with
/// the lever less its score without): its interval says whether the lever helps more than
/// the two conditions' own intervals, which overlap, can.
json summarize_gain(const std::vector<const RepositoryScores*>& repositories, const EvalGain& gain,
                    const std::string& group, std::uint64_t seed) {
  using Pair = std::pair<const std::vector<CaseScores>*, const std::vector<CaseScores>*>;
  std::vector<Pair> pairs;  // per repository: with the lever, without
  std::size_t n = 0;
  bool wrote_lines = false;
  for (const RepositoryScores* r : repositories) {
    const Pair& p =
        pairs.emplace_back(&group_of(*r, gain.with, group), &group_of(*r, gain.without, group));
    if (p.first->size() != p.second->size()) return json();  // not the same cases
    n += p.first->size();
    for (const CaseScores& s : *p.first) wrote_lines = wrote_lines || s.wrote_line;
  }
  json out = {{"n", n}};
  if (n == 0) return out;
  for (const Metric& m : metrics()) {
    if (m.line && !wrote_lines) continue;
    std::vector<std::vector<double>> groups;
    for (const auto& [with, without] : pairs) {
      std::vector<double>& differences = groups.emplace_back();
      for (std::size_t i = 0; i < with->size(); ++i)
        differences.push_back((*with)[i].*m.field - (*without)[i].*m.field);
    }
    out[m.key] = interval_json(bootstrap_macro_mean(groups, seed));
  }
  return out;
}

json summarize(const std::vector<const RepositoryScores*>& repositories, std::uint64_t seed) {
  json out = json::object();
  for (const std::string& condition : eval_conditions()) {
    for (const std::string& group : eval_groups()) {
      std::vector<const std::vector<CaseScores>*> per_repository;
      for (const RepositoryScores* r : repositories)
        per_repository.push_back(&group_of(*r, condition, group));
      const json summary = summarize_group(per_repository, seed);
      if (summary["n"].get<std::size_t>() > 0) out[condition][group] = summary;
    }
  }
  for (const EvalGain& g : eval_gains()) {
    for (const std::string& group : eval_groups()) {
      const json gain = summarize_gain(repositories, g, group, seed);
      if (!gain.is_null() && gain["n"].get<std::size_t>() > 0) out[g.name][group] = gain;
    }
  }
  return out;
}

std::string cell(const json& metric, double scale) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.1f [%.1f, %.1f]", scale * metric["mean"].get<double>(),
                scale * metric["low"].get<double>(), scale * metric["high"].get<double>());
  return buffer;
}

/// The rows of a summary's table: condition, group, n, the metrics, p50 ("–" where the
/// condition has no such metric).
std::vector<std::vector<std::string>> rows(const json& summary) {
  std::vector<std::vector<std::string>> out;
  std::vector<std::string> conditions = eval_conditions();
  for (const EvalGain& g : eval_gains()) conditions.emplace_back(g.name);
  for (const std::string& condition : conditions) {
    if (!summary.contains(condition)) continue;
    for (const std::string& group : eval_groups()) {
      if (!summary[condition].contains(group)) continue;
      const json& g = summary[condition][group];
      std::vector<std::string> row{condition, group, std::to_string(g["n"].get<std::size_t>())};
      for (const Metric& m : metrics())
        row.push_back(g.contains(m.key) ? cell(g[m.key], m.scale) : "–");
      char p50[32] = "–";
      if (g.contains("latency_p50_ms"))
        std::snprintf(p50, sizeof p50, "%.0f", g["latency_p50_ms"].get<double>());
      row.emplace_back(p50);
      out.push_back(std::move(row));
    }
  }
  return out;
}

std::vector<std::string> headers() {
  std::vector<std::string> out{"condition", "uses", "n"};
  for (const Metric& m : metrics()) out.emplace_back(m.header);
  out.emplace_back("p50 ms");
  return out;
}

std::string escaped(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string html_table(const json& summary) {
  std::ostringstream out;
  out << "<table>\n<tr>";
  for (const std::string& h : headers()) out << "<th>" << escaped(h) << "</th>";
  out << "</tr>\n";
  for (const auto& row : rows(summary)) {
    out << "<tr>";
    for (const std::string& c : row) out << "<td>" << escaped(c) << "</td>";
    out << "</tr>\n";
  }
  out << "</table>\n";
  return out.str();
}

}  // namespace

json interval_json(const Interval& i) {
  return {{"mean", i.mean}, {"low", i.low}, {"high", i.high}};
}

json summarize_repository(const RepositoryScores& scores, std::uint64_t seed) {
  return summarize({&scores}, seed);
}

json macro_average(const std::vector<RepositoryScores>& repositories, std::uint64_t seed) {
  std::vector<const RepositoryScores*> all;
  for (const RepositoryScores& r : repositories) all.push_back(&r);
  return summarize(all, seed);
}

std::string markdown_table(const json& summary) {
  std::ostringstream out;
  out << "|";
  for (const std::string& h : headers()) out << " " << h << " |";
  out << "\n|";
  for (std::size_t i = 0; i < headers().size(); ++i) out << "---|";
  out << "\n";
  for (const auto& row : rows(summary)) {
    out << "|";
    for (const std::string& c : row) out << " " << c << " |";
    out << "\n";
  }
  return out.str();
}

std::string html_report(const json& report) {
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<title>mnemo eval</title>\n<style>\n"
         "body { font-family: system-ui, sans-serif; margin: 2em; }\n"
         "table { border-collapse: collapse; margin-bottom: 2em; }\n"
         "th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }\n"
         "th:nth-child(-n+2), td:nth-child(-n+2) { text-align: left; }\n"
         "pre { background: #f6f6f6; padding: 1em; }\n"
         "</style>\n</head>\n<body>\n<h1>mnemo eval</h1>\n"
         "<p>Means with percentile bootstrap 95% intervals in brackets.</p>\n";
  for (const json& repository : report["repositories"]) {
    out << "<h2>" << escaped(repository["repo"].get<std::string>()) << " ("
        << repository["cases"].get<std::size_t>() << " cases)</h2>\n"
        << html_table(repository["conditions"]);
  }
  if (report.contains("macro")) {
    out << "<h2>Macro-average over " << report["repositories"].size() << " repositories</h2>\n"
        << html_table(report["macro"]);
  }
  out << "<h2>Configuration</h2>\n<pre>" << escaped(report["config"].dump(2))
      << "</pre>\n</body>\n</html>\n";
  return out.str();
}

}  // namespace mnemo::server
