#include "indexer/libclang_probe.h"

#include <clang-c/Index.h>

#include <string>

#include "indexer/compile_flags.h"
#include "indexer/cx_string.h"
#include "indexer/libclang_working_directory.h"

namespace mnemo::indexer {
namespace {

constexpr const char* kProbe =
    "#include <string>\n"
    "#include <vector>\n"
    "int mnemo_probe() { std::vector<std::string> v{\"a\"}; return int(v.size()); }\n";
constexpr unsigned kMostErrors = 5;

}  // namespace

LibclangProbe probe_libclang(const std::filesystem::path& root) {
  LibclangProbe out;
  out.version = take(clang_getClangVersion());
  // A file of the repository that does not exist: the command a new source would get.
  const std::filesystem::path file = root / "mnemo-doctor-probe.cpp";
  const auto flags = CompileFlags::for_repository(root);
  out.command = libclang_argv(flags->command_for(file), file);
  std::vector<const char*> args;
  for (const std::string& a : out.command) args.push_back(a.c_str());
  const std::string contents = kProbe;
  CXUnsavedFile unsaved{file.c_str(), contents.data(), static_cast<unsigned long>(contents.size())};

  const LibclangWorkingDirectory stay;
  CXIndex index = clang_createIndex(0, 0);
  CXTranslationUnit tu = nullptr;
  const CXErrorCode status = clang_parseTranslationUnit2FullArgv(
      index, file.c_str(), args.data(), static_cast<int>(args.size()), &unsaved, 1,
      CXTranslationUnit_KeepGoing, &tu);
  if (status == CXError_Success && tu != nullptr) {
    out.parsed = true;
    bool header_missing = false;
    const unsigned n = clang_getNumDiagnostics(tu);
    for (unsigned i = 0; i < n; ++i) {
      const CXDiagnostic d = clang_getDiagnostic(tu, i);
      if (clang_getDiagnosticSeverity(d) >= CXDiagnostic_Error) {
        const std::string text = take(clang_getDiagnosticSpelling(d));
        if (text.find("file not found") != std::string::npos) header_missing = true;
        if (out.errors.size() < kMostErrors) out.errors.push_back(text);
      }
      clang_disposeDiagnostic(d);
    }
    out.standard_headers = !header_missing;
    clang_disposeTranslationUnit(tu);
  } else {
    out.errors.push_back("libclang could not parse (error " + std::to_string(status) + ")");
  }
  clang_disposeIndex(index);
  return out;
}

}  // namespace mnemo::indexer
