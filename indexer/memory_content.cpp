#include "indexer/memory_content.h"

#include <fnmatch.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace mnemo::indexer {
namespace {

/// Extensions of code and of its documentation and build files, which the memory reads.
constexpr std::array<std::string_view, 45> kCodeExtensions{
    ".c",    ".h",     ".cc", ".cpp", ".cxx",   ".hpp", ".hh",    ".hxx", ".ipp",
    ".inl",  ".tcc",   ".m",  ".mm",  ".cu",    ".cuh", ".py",    ".rs",  ".go",
    ".java", ".kt",    ".js", ".ts",  ".tsx",   ".jsx", ".lua",   ".rb",  ".sh",
    ".bash", ".cmake", ".mk", ".s",   ".S",     ".asm", ".proto", ".md",  ".rst",
    ".adoc", ".swift", ".cs", ".php", ".scala", ".pl",  ".el",    ".vim", ".zig"};
/// Name starts of documentation whatever their extension (README.txt, CHANGES.rst).
constexpr std::array<std::string_view, 6> kDocumentationStarts{
    "README", "CHANGELOG", "CHANGES", "CONTRIBUTING", "INSTALL", "NEWS"};
/// File names without an extension that are code or its documentation.
constexpr std::array<std::string_view, 9> kCodeNames{"Makefile", "CMakeLists.txt", "Kconfig",
                                                     "Kbuild",   "README",         "Dockerfile",
                                                     "LICENSE",  "meson.build",    "BUILD"};
/// Folders that hold test inputs, not code: any path component so named.
constexpr std::array<std::string_view, 7> kDataFolders{
    "testdata", "test_data", "test-data", "fixtures", "corpus", "corpora", "golden"};
/// Lines longer than this on average make a file machine-written (minified, encoded).
constexpr std::size_t kMostMeanLineBytes = 300;
/// The bytes looked at for generated markers and binary-like text.
constexpr std::size_t kProbeBytes = 4096;

std::string_view file_name(std::string_view path) {
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string_view extension(std::string_view name) {
  const auto dot = name.rfind('.');
  return dot == std::string_view::npos || dot == 0 ? std::string_view() : name.substr(dot);
}

bool matches(const std::vector<std::string>& patterns, std::string_view path) {
  const std::string p(path);
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& pattern) {
    return fnmatch(pattern.c_str(), p.c_str(), 0) == 0;
  });
}

bool in_data_folder(std::string_view path) {
  std::size_t start = 0;
  while (true) {
    const auto slash = path.find('/', start);
    if (slash == std::string_view::npos) return false;  // the last component is the file
    const std::string_view component = path.substr(start, slash - start);
    if (std::find(kDataFolders.begin(), kDataFolders.end(), component) != kDataFolders.end())
      return true;
    start = slash + 1;
  }
}

bool contains_folded(std::string_view text, std::string_view word) {
  const auto it =
      std::search(text.begin(), text.end(), word.begin(), word.end(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) ==
               std::tolower(static_cast<unsigned char>(b));
      });
  return it != text.end();
}

}  // namespace

std::string ContentRules::describe() const {
  std::string out =
      "the memory reads code and its documentation (sources, headers, scripts, build files, "
      "Markdown, READMEs), each file without its leading license comment; it leaves out data "
      "(other extensions), files under test-data folders (testdata, test_data, fixtures, "
      "corpus, corpora, golden), generated files (marked \"generated\" / \"DO NOT EDIT\" near the "
      "top), minified "
      "files (*.min.*, or lines over " +
      std::to_string(kMostMeanLineBytes) + " bytes on average) and binary-like text";
  const auto list = [](const std::vector<std::string>& patterns) {
    std::string s;
    for (const std::string& p : patterns) s += (s.empty() ? "" : ", ") + p;
    return s;
  };
  if (!include.empty()) out += "; always kept: " + list(include);
  if (!exclude.empty()) out += "; never kept: " + list(exclude);
  return out;
}

ContentDecision classify_for_memory(std::string_view path, std::string_view contents,
                                    const ContentRules& rules) {
  if (matches(rules.exclude, path)) return {false, "excluded by the configuration"};
  if (matches(rules.include, path)) return {true, ""};
  const std::string_view name = file_name(path);
  const std::string_view ext = extension(name);
  const bool code_name =
      std::find(kCodeNames.begin(), kCodeNames.end(), name) != kCodeNames.end() ||
      std::any_of(kDocumentationStarts.begin(), kDocumentationStarts.end(),
                  [&](std::string_view start) { return name.substr(0, start.size()) == start; });
  const bool code_extension =
      std::find(kCodeExtensions.begin(), kCodeExtensions.end(), ext) != kCodeExtensions.end();
  if (!code_name && !code_extension)
    return {false,
            ext.empty() ? std::string("data (no extension)") : "data (" + std::string(ext) + ")"};
  if (in_data_folder(path)) return {false, "test data folder"};
  if (name.find(".min.") != std::string_view::npos) return {false, "minified"};
  const std::string_view head = contents.substr(0, kProbeBytes);
  if (contains_folded(head, "@generated") || contains_folded(head, "do not edit") ||
      contains_folded(head, "automatically generated") || contains_folded(head, "autogenerated"))
    return {false, "generated"};
  const auto lines =
      static_cast<std::size_t>(std::count(contents.begin(), contents.end(), '\n')) + 1;
  if (contents.size() / lines > kMostMeanLineBytes) return {false, "minified"};
  std::size_t odd = 0;
  for (const char c : head) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f') ++odd;
  }
  if (!head.empty() && odd * 100 > head.size()) return {false, "binary-like text"};
  return {true, ""};
}

std::string_view memory_text(std::string_view contents) {
  // The first comment, after blank lines: a block comment, or a run of line comments.
  std::size_t at = 0;
  while (at < contents.size() && std::isspace(static_cast<unsigned char>(contents[at]))) ++at;
  std::size_t end = at;
  if (contents.substr(at, 2) == "/*") {
    const auto close = contents.find("*/", at + 2);
    if (close == std::string_view::npos) return contents;
    end = close + 2;
  } else if (contents.substr(at, 2) == "//" || contents.substr(at, 1) == "#") {
    // Line comments ('#' for scripts, but not a preprocessor line), one after another.
    const std::string_view marker = contents.substr(at, 2) == "//" ? "//" : "#";
    if (marker == "#" &&
        (contents.substr(at, 8) == "#include" || contents.substr(at, 7) == "#pragma" ||
         contents.substr(at, 7) == "#define" || contents.substr(at, 3) == "#if"))
      return contents;
    end = at;
    while (end < contents.size() && contents.substr(end, marker.size()) == marker) {
      const auto newline = contents.find('\n', end);
      end = newline == std::string_view::npos ? contents.size() : newline + 1;
      while (end < contents.size() && (contents[end] == ' ' || contents[end] == '\t')) ++end;
    }
  } else {
    return contents;
  }
  const std::string_view comment = contents.substr(at, end - at);
  const bool license = contains_folded(comment, "copyright") ||
                       contains_folded(comment, "license") || contains_folded(comment, "licence") ||
                       contains_folded(comment, "permission is hereby granted");
  if (!license) return contents;
  while (end < contents.size() && (contents[end] == '\n' || contents[end] == '\r')) ++end;
  return contents.substr(end);
}

}  // namespace mnemo::indexer
