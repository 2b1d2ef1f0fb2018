#include "indexer/clang_completion.h"

#include <clang-c/Index.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <utility>

#include "indexer/cx_string.h"
#include "indexer/libclang_working_directory.h"

namespace mnemo::indexer {
namespace fs = std::filesystem;

struct ClangCompleter::Unit {
  std::string file;
  std::vector<std::string> argv;
  CXTranslationUnit tu = nullptr;
};

namespace {

SemanticCandidate::Kind kind_of(CXCursorKind kind) {
  using K = SemanticCandidate::Kind;
  switch (kind) {
    case CXCursor_FunctionDecl:
    case CXCursor_CXXMethod:
    case CXCursor_FunctionTemplate:
    case CXCursor_Constructor:
    case CXCursor_Destructor:
    case CXCursor_ConversionFunction:
      return K::kFunction;
    case CXCursor_VarDecl:
    case CXCursor_ParmDecl:
    case CXCursor_EnumConstantDecl:
    case CXCursor_NonTypeTemplateParameter:
      return K::kVariable;
    case CXCursor_FieldDecl:
      return K::kField;
    case CXCursor_StructDecl:
    case CXCursor_ClassDecl:
    case CXCursor_UnionDecl:
    case CXCursor_EnumDecl:
    case CXCursor_TypedefDecl:
    case CXCursor_TypeAliasDecl:
    case CXCursor_TypeAliasTemplateDecl:
    case CXCursor_ClassTemplate:
    case CXCursor_ClassTemplatePartialSpecialization:
    case CXCursor_TemplateTypeParameter:
    case CXCursor_TemplateTemplateParameter:
      return K::kType;
    case CXCursor_Namespace:
    case CXCursor_NamespaceAlias:
      return K::kNamespace;
    case CXCursor_MacroDefinition:
      return K::kMacro;
    case CXCursor_NotImplemented:  // keywords and code patterns
      return K::kKeyword;
    default:
      return K::kOther;
  }
}

/// The parameter list and qualifiers of a completion string, as written ("(int a) const"),
/// optional parameters in brackets.
void append_signature(CXCompletionString cs, std::string& out) {
  const unsigned n = clang_getNumCompletionChunks(cs);
  for (unsigned i = 0; i < n; ++i) {
    const CXCompletionChunkKind kind = clang_getCompletionChunkKind(cs, i);
    switch (kind) {
      case CXCompletionChunk_TypedText:
      case CXCompletionChunk_ResultType:
        break;
      case CXCompletionChunk_Optional:
        out += '[';
        append_signature(clang_getCompletionChunkCompletionString(cs, i), out);
        out += ']';
        break;
      case CXCompletionChunk_VerticalSpace:
        out += ' ';
        break;
      default:
        out += take(clang_getCompletionChunkText(cs, i));
    }
  }
}

bool starts_with_folded(std::string_view name, std::string_view prefix) {
  if (prefix.size() > name.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(name[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  }
  return true;
}

}  // namespace

ClangCompleter::ClangCompleter(std::size_t cached_units)
    : index_(clang_createIndex(/*excludeDeclarationsFromPCH=*/0, /*displayDiagnostics=*/0)),
      cached_units_(std::max<std::size_t>(1, cached_units)) {}

ClangCompleter::~ClangCompleter() {
  for (Unit& unit : units_) clang_disposeTranslationUnit(unit.tu);
  clang_disposeIndex(static_cast<CXIndex>(index_));
}

ClangCompleter::Unit* ClangCompleter::unit_for(const SemanticRequest& request, std::string& error) {
  const std::string file = request.file.string();
  const std::vector<std::string> argv = libclang_argv(request.command, request.file);
  for (auto it = units_.begin(); it != units_.end(); ++it) {
    if (it->file == file && it->argv == argv) {
      units_.splice(units_.begin(), units_, it);
      return &units_.front();
    }
  }
  std::vector<const char*> args;
  for (const std::string& a : argv) args.push_back(a.c_str());
  CXUnsavedFile unsaved{file.c_str(), request.contents.data(),
                        static_cast<unsigned long>(request.contents.size())};
  // The editing options precompile the preamble (the includes) for the reparses that
  // code completion does, and cache the global completion results.
  const unsigned options =
      clang_defaultEditingTranslationUnitOptions() | CXTranslationUnit_PrecompiledPreamble |
      CXTranslationUnit_CacheCompletionResults |
      CXTranslationUnit_IncludeBriefCommentsInCodeCompletion | CXTranslationUnit_KeepGoing;
  CXTranslationUnit tu = nullptr;
  const CXErrorCode status =
      clang_parseTranslationUnit2FullArgv(static_cast<CXIndex>(index_), file.c_str(), args.data(),
                                          static_cast<int>(args.size()), &unsaved, 1, options, &tu);
  if (status != CXError_Success || tu == nullptr) {
    error = file + ": libclang could not parse it (" +
            (status == CXError_Crashed ? std::string("it crashed")
                                       : "error " + std::to_string(status)) +
            ")";
    return nullptr;
  }
  // The preamble is precompiled on the first reparse, not at the parse: without this one,
  // every completion parses the headers again (measured on a file including two Boost.Asio
  // headers: 460 ms a completion without it, 25 ms with it).
  if (clang_reparseTranslationUnit(tu, 1, &unsaved, clang_defaultReparseOptions(tu)) != 0) {
    clang_disposeTranslationUnit(tu);
    error = file + ": libclang could not reparse it";
    return nullptr;
  }
  if (units_.size() >= cached_units_) {
    clang_disposeTranslationUnit(units_.back().tu);
    units_.pop_back();
  }
  units_.push_front(Unit{file, argv, tu});
  return &units_.front();
}

model::Result<SemanticCompletions, IndexError> ClangCompleter::complete(
    const SemanticRequest& request) {
  const LibclangWorkingDirectory stay;  // the parse, the reparses and the completion
  std::string error;
  Unit* unit = unit_for(request, error);
  if (unit == nullptr) return IndexError{error};
  CXUnsavedFile unsaved{unit->file.c_str(), request.contents.data(),
                        static_cast<unsigned long>(request.contents.size())};
  CXCodeCompleteResults* results = clang_codeCompleteAt(
      unit->tu, unit->file.c_str(), request.line, request.column, &unsaved, 1,
      clang_defaultCodeCompleteOptions() | CXCodeComplete_IncludeBriefComments);
  if (results == nullptr) {
    return IndexError{unit->file + ": libclang could not complete at " +
                      std::to_string(request.line) + ":" + std::to_string(request.column)};
  }
  SemanticCompletions out;
  std::set<std::pair<std::string, std::string>> seen;  // (name, signature)
  for (unsigned i = 0; i < results->NumResults; ++i) {
    const CXCompletionResult& result = results->Results[i];
    const CXCompletionString cs = result.CompletionString;
    const CXAvailabilityKind availability = clang_getCompletionAvailability(cs);
    if (availability == CXAvailability_NotAvailable || availability == CXAvailability_NotAccessible)
      continue;
    SemanticCandidate c;
    const unsigned n = clang_getNumCompletionChunks(cs);
    for (unsigned j = 0; j < n; ++j) {
      const CXCompletionChunkKind kind = clang_getCompletionChunkKind(cs, j);
      if (kind == CXCompletionChunk_TypedText) c.name = take(clang_getCompletionChunkText(cs, j));
      if (kind == CXCompletionChunk_ResultType)
        c.result_type = take(clang_getCompletionChunkText(cs, j));
    }
    if (c.name.empty() || !starts_with_folded(c.name, request.prefix)) continue;
    c.kind = kind_of(result.CursorKind);
    c.signature = c.name;
    append_signature(cs, c.signature);
    if (!seen.insert({c.name, c.signature}).second) continue;
    c.priority = clang_getCompletionPriority(cs);
    c.brief = take(clang_getCompletionBriefComment(cs));
    out.candidates.push_back(std::move(c));
  }
  clang_disposeCodeCompleteResults(results);
  std::sort(out.candidates.begin(), out.candidates.end(),
            [](const SemanticCandidate& a, const SemanticCandidate& b) {
              return std::tie(a.priority, a.name, a.signature) <
                     std::tie(b.priority, b.name, b.signature);
            });
  if (out.candidates.size() > request.max_candidates) {
    out.candidates.resize(request.max_candidates);
    out.truncated = true;
  }
  return out;
}

}  // namespace mnemo::indexer
