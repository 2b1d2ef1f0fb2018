#include "indexer/compile_flags.h"

#include <clang-c/CXCompilationDatabase.h>

#include <algorithm>
#include <set>
#include <system_error>

#include "indexer/cx_string.h"

namespace mnemo::indexer {
namespace fs = std::filesystem;

struct CompileFlags::Entry {
  fs::path file;  ///< absolute, lexically normal
  fs::path directory;
  std::vector<std::string> argv;
};

namespace {

std::string lower_extension(const fs::path& file) {
  std::string ext = file.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

/// A file parsed as a header: a header's extension, or none (the standard library's).
bool is_header(const fs::path& file) {
  return has_header_extension(file) || file.extension().empty();
}

/// The -x language of a file when it is parsed on its own; `c_project`: the nearest
/// database entry compiles C (so a .h is a C header).
std::string language_of(const fs::path& file, bool c_project) {
  const std::string ext = lower_extension(file);
  if (ext == ".c") return "c";
  if (ext == ".m") return "objective-c";
  if (ext == ".mm") return "objective-c++";
  if (is_header(file)) return ext == ".h" && c_project ? "c-header" : "c++-header";
  return "c++";
}

fs::path absolute_in(const fs::path& path, const fs::path& dir) {
  return (path.is_absolute() ? path : dir / path).lexically_normal();
}

/// Path components two absolute paths share from the start.
std::size_t shared_components(const fs::path& a, const fs::path& b) {
  std::size_t n = 0;
  for (auto i = a.begin(), j = b.begin(); i != a.end() && j != b.end() && *i == *j; ++i, ++j) ++n;
  return n;
}

}  // namespace

CompileFlags::~CompileFlags() = default;

std::unique_ptr<CompileFlags> CompileFlags::for_repository(
    const fs::path& root, const std::vector<std::string>& include_dirs,
    const std::optional<fs::path>& database_dir) {
  std::unique_ptr<CompileFlags> flags(new CompileFlags);
  flags->root_ = root;
  flags->default_includes_ = include_dirs;
  std::vector<fs::path> candidates;
  if (database_dir) {
    candidates.push_back(*database_dir);
  } else {
    candidates = {root, root / "build"};
  }
  for (const fs::path& dir : candidates) {
    std::error_code ec;
    if (!fs::is_regular_file(dir / "compile_commands.json", ec)) continue;
    CXCompilationDatabase_Error error = CXCompilationDatabase_NoError;
    CXCompilationDatabase db = clang_CompilationDatabase_fromDirectory(dir.c_str(), &error);
    if (error != CXCompilationDatabase_NoError || db == nullptr) continue;
    CXCompileCommands commands = clang_CompilationDatabase_getAllCompileCommands(db);
    const unsigned n = clang_CompileCommands_getSize(commands);
    for (unsigned i = 0; i < n; ++i) {
      CXCompileCommand command = clang_CompileCommands_getCommand(commands, i);
      Entry entry;
      entry.directory = take(clang_CompileCommand_getDirectory(command));
      entry.file = absolute_in(take(clang_CompileCommand_getFilename(command)), entry.directory);
      const unsigned args = clang_CompileCommand_getNumArgs(command);
      for (unsigned a = 0; a < args; ++a)
        entry.argv.push_back(take(clang_CompileCommand_getArg(command, a)));
      if (!entry.argv.empty()) flags->entries_.push_back(std::move(entry));
    }
    clang_CompileCommands_dispose(commands);
    clang_CompilationDatabase_dispose(db);
    flags->database_ = dir / "compile_commands.json";
    break;
  }
  return flags;
}

CompileCommand CompileFlags::command_for(const fs::path& file_in) const {
  const fs::path file = absolute_in(file_in, root_);
  const Entry* nearest = nullptr;
  std::size_t best = 0;
  for (const Entry& e : entries_) {
    if (e.file == file) {
      return {e.argv, e.directory, true, false};
    }
    // The nearest listed file; among equals, a source over a header.
    const std::size_t shared = shared_components(e.file, file);
    if (nearest == nullptr || shared > best ||
        (shared == best && is_header(nearest->file) && !is_header(e.file))) {
      nearest = &e;
      best = shared;
    }
  }
  CompileCommand out;
  if (nearest != nullptr) {
    // The neighbour's command with its file swapped for ours, and the language set from
    // our extension (a header would otherwise be compiled as the neighbour's source).
    out.directory = nearest->directory;
    out.from_database = true;
    out.inferred = true;
    const bool c_project = language_of(nearest->file, false) == "c";
    out.argv.push_back(nearest->argv.front());
    out.argv.insert(out.argv.end(), {"-x", language_of(file, c_project)});
    for (std::size_t i = 1; i < nearest->argv.size(); ++i) {
      const std::string& arg = nearest->argv[i];
      if (absolute_in(arg, nearest->directory) == nearest->file) continue;
      if (arg == "-x" && i + 1 < nearest->argv.size()) {
        ++i;  // the neighbour's language
        continue;
      }
      out.argv.push_back(arg);
    }
    out.argv.push_back(file.string());
    return out;
  }
  const std::string language = language_of(file, false);
  const bool c = language == "c" || language == "c-header" || language == "objective-c";
  out.directory = root_;
  out.argv = {c ? "clang" : "clang++", "-x", language, c ? "-std=c11" : "-std=c++17",
              "-I" + root_.string()};
  for (const std::string& dir : default_includes_)
    out.argv.push_back("-I" + (root_ / dir).string());
  out.argv.push_back(file.string());
  return out;
}

bool has_header_extension(const fs::path& file) {
  static const std::set<std::string> kHeaders = {".h",   ".hh",  ".hpp", ".hxx",
                                                 ".h++", ".inl", ".ipp", ".tcc"};
  return kHeaders.count(lower_extension(file)) != 0;
}

bool is_c_family(const fs::path& file) {
  static const std::set<std::string> kSources = {".c", ".cc", ".cpp", ".cxx", ".c++", ".m", ".mm"};
  return kSources.count(lower_extension(file)) != 0 || has_header_extension(file);
}

std::vector<std::string> include_folders(const std::vector<std::string>& files) {
  std::set<std::string> dirs;
  for (const std::string& f : files) {
    const fs::path p(f);
    fs::path prefix;
    for (const fs::path& part : p.parent_path()) {
      prefix /= part;
      if (part == "include") dirs.insert(prefix.generic_string());
    }
  }
  return {dirs.begin(), dirs.end()};
}

std::vector<std::string> libclang_argv(const CompileCommand& command, const fs::path& file) {
  // `/repo/./a.cpp` and `/repo/a.cpp` are one file: left in, libclang would get two inputs
  // and fail (CXError_ASTReadError).
  const fs::path normal_file = file.lexically_normal();
  std::vector<std::string> argv;
  const std::vector<std::string>& in = command.argv;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const std::string& arg = in[i];
    const bool has_next = i + 1 < in.size();
    if (i > 0) {
      const fs::path as_path(arg);
      const fs::path resolved = as_path.is_absolute() ? as_path : command.directory / as_path;
      if (resolved.lexically_normal() == normal_file) continue;
    }
    if ((arg == "-include" || arg == "--include") && has_next) {
      argv.insert(argv.end(), {"-Xclang", "-include", "-Xclang", in[++i]});
      continue;
    }
    if (arg.rfind("-include", 0) == 0 && arg.size() > 8 && arg.rfind("-include-pch", 0) != 0) {
      argv.insert(argv.end(), {"-Xclang", "-include", "-Xclang", arg.substr(8)});
      continue;
    }
    if (arg == "-include-pch" && has_next) {
      ++i;
      continue;
    }
    if (arg == "-Winvalid-pch" || arg == "-Werror" || arg.rfind("-Werror=", 0) == 0 ||
        arg == "-pedantic-errors")
      continue;
    argv.push_back(arg);
  }
  if (argv.empty()) argv.push_back("clang++");
  argv.push_back("-working-directory=" + command.directory.string());
  argv.push_back("-Wno-unknown-warning-option");  // GCC's warning flags are not clang's
  return argv;
}

}  // namespace mnemo::indexer
