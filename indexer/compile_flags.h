// The compiler command libclang parses a file with.
//
// With a compile_commands.json (at the repository root, in build/, or in a folder the user
// names), a file's own command is used; a file the database does not list (a header, a new
// file) borrows the command of the listed file nearest to it in the tree, as clangd does,
// with the file name swapped and headers parsed as headers. Without a database, defaults
// find the repository's own headers: -I for the root and its folders named `include`.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mnemo::indexer {

struct CompileCommand {
  /// The full command line: the compiler first, then its arguments, the file among them.
  std::vector<std::string> argv;
  std::filesystem::path directory;  ///< where relative paths in argv are resolved
  bool from_database = false;       ///< false: the defaults
  bool inferred = false;            ///< borrowed from another file's database entry
};

class CompileFlags {
 public:
  /// Reads `database_dir`/compile_commands.json when given, else the root's, else
  /// build/'s; with none, `include_dirs` (relative to the root, e.g. from the walk) are the
  /// defaults' -I folders besides the root.
  static std::unique_ptr<CompileFlags> for_repository(
      const std::filesystem::path& root, const std::vector<std::string>& include_dirs = {},
      const std::optional<std::filesystem::path>& database_dir = std::nullopt);
  ~CompileFlags();
  CompileFlags(const CompileFlags&) = delete;
  CompileFlags& operator=(const CompileFlags&) = delete;

  /// The command for `file` (absolute, or relative to the root).
  CompileCommand command_for(const std::filesystem::path& file) const;
  /// The compile_commands.json in use, if any.
  const std::optional<std::filesystem::path>& database() const { return database_; }

 private:
  struct Entry;
  CompileFlags() = default;

  std::filesystem::path root_;
  std::optional<std::filesystem::path> database_;
  std::vector<Entry> entries_;  ///< every database command, by file
  std::vector<std::string> default_includes_;
};

/// Whether `file` has a C/C++/Objective-C header's extension (.h, .hpp, .inl, ...), in any
/// case. The one list of them: the walk's order, the flags' -x language and the choice of
/// files to parse all use it.
bool has_header_extension(const std::filesystem::path& file);
/// Whether libclang reads the file: C, C++ and Objective-C sources and headers.
bool is_c_family(const std::filesystem::path& file);

/// The folders named `include` among `files`' parents (relative paths, '/'-separated), each
/// once: the -I folders of the defaults.
std::vector<std::string> include_folders(const std::vector<std::string>& files);

/// A compiler's command as libclang should see it: without the file argument (libclang
/// gets the file by name, with the caller's contents as its unsaved buffer), with the
/// working directory, and without what would make a GCC build's command fail or miscount:
///  - `-include X` of a precompiled header (CMake's cmake_pch.hxx): clang's driver would
///    load a `X.gch` beside it as its own PCH format and fail (CXError_ASTReadError), so
///    the header goes straight to the front end (-Xclang -include), read as text;
///  - `-include-pch X` (a PCH of whatever compiler built it) and -Winvalid-pch;
///  - -Werror and -pedantic-errors, which would count warnings as parse errors.
std::vector<std::string> libclang_argv(const CompileCommand& command,
                                       const std::filesystem::path& file);

}  // namespace mnemo::indexer
