#include "indexer/clang_symbols.h"

#include <clang-c/Index.h>

#include <algorithm>
#include <map>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "indexer/content_hash.h"
#include "indexer/cx_string.h"
#include "indexer/libclang_working_directory.h"

namespace mnemo::indexer {
namespace fs = std::filesystem;

namespace {

/// Our name for a declaration kind, or nullptr for the kinds that are not recorded.
const char* symbol_kind(CXCursorKind kind) {
  switch (kind) {
    case CXCursor_Namespace:
      return "namespace";
    case CXCursor_ClassDecl:
    case CXCursor_ObjCInterfaceDecl:
      return "class";
    case CXCursor_StructDecl:
      return "struct";
    case CXCursor_UnionDecl:
      return "union";
    case CXCursor_EnumDecl:
      return "enum";
    case CXCursor_EnumConstantDecl:
      return "enumerator";
    case CXCursor_FunctionDecl:
      return "function";
    case CXCursor_CXXMethod:
    case CXCursor_ObjCInstanceMethodDecl:
    case CXCursor_ObjCClassMethodDecl:
      return "method";
    case CXCursor_Constructor:
      return "constructor";
    case CXCursor_Destructor:
      return "destructor";
    case CXCursor_ConversionFunction:
      return "conversion";
    case CXCursor_FieldDecl:
    case CXCursor_ObjCIvarDecl:
      return "field";
    case CXCursor_ObjCPropertyDecl:
      return "property";
    case CXCursor_ObjCProtocolDecl:
      return "protocol";
    case CXCursor_ObjCCategoryDecl:
      return "category";
    case CXCursor_VarDecl:
      return "variable";
    case CXCursor_TypedefDecl:
      return "typedef";
    case CXCursor_TypeAliasDecl:
      return "type_alias";
    case CXCursor_ClassTemplate:
    case CXCursor_ClassTemplatePartialSpecialization:
      return "class_template";
    case CXCursor_FunctionTemplate:
      return "function_template";
    case CXCursor_MacroDefinition:
      return "macro";
    default:
      return nullptr;
  }
}

bool is_reference(CXCursorKind kind) {
  switch (kind) {
    case CXCursor_DeclRefExpr:
    case CXCursor_MemberRefExpr:
    case CXCursor_TypeRef:
    case CXCursor_TemplateRef:
    case CXCursor_NamespaceRef:
    case CXCursor_MemberRef:
    case CXCursor_OverloadedDeclRef:
    case CXCursor_VariableRef:
    case CXCursor_MacroExpansion:
    case CXCursor_ObjCClassRef:
    case CXCursor_ObjCProtocolRef:
    case CXCursor_ObjCSuperClassRef:
      return true;
    default:
      return false;
  }
}

bool is_function_like(CXCursorKind kind) {
  switch (kind) {
    case CXCursor_FunctionDecl:
    case CXCursor_CXXMethod:
    case CXCursor_Constructor:
    case CXCursor_Destructor:
    case CXCursor_ConversionFunction:
    case CXCursor_FunctionTemplate:
    case CXCursor_LambdaExpr:
    case CXCursor_ObjCInstanceMethodDecl:
    case CXCursor_ObjCClassMethodDecl:
      return true;
    default:
      return false;
  }
}

bool is_container(CXCursorKind kind) {
  switch (kind) {
    case CXCursor_Namespace:
    case CXCursor_ClassDecl:
    case CXCursor_StructDecl:
    case CXCursor_UnionDecl:
    case CXCursor_EnumDecl:
    case CXCursor_ClassTemplate:
    case CXCursor_ClassTemplatePartialSpecialization:
    case CXCursor_ObjCInterfaceDecl:
    case CXCursor_ObjCProtocolDecl:
    case CXCursor_ObjCCategoryDecl:
      return true;
    default:
      return false;
  }
}

bool valid(CXCursor c) {
  return !clang_Cursor_isNull(c) && !clang_isInvalid(clang_getCursorKind(c)) &&
         clang_getCursorKind(c) != CXCursor_TranslationUnit;
}

/// Declared inside a function (a parameter, a local, a local class): not looked up from
/// elsewhere.
bool is_local(CXCursor c) {
  if (clang_getCursorKind(c) == CXCursor_ParmDecl) return true;
  for (CXCursor p = clang_getCursorSemanticParent(c); valid(p);
       p = clang_getCursorSemanticParent(p)) {
    if (is_function_like(clang_getCursorKind(p))) return true;
  }
  return false;
}

std::string qualified_name(CXCursor c) {
  std::vector<std::string> parts;
  for (CXCursor p = c; valid(p); p = clang_getCursorSemanticParent(p)) {
    std::string name = take(clang_getCursorSpelling(p));
    if (name.empty())
      name = clang_getCursorKind(p) == CXCursor_Namespace ? "(anonymous namespace)" : "(anonymous)";
    parts.push_back(std::move(name));
  }
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) out += (out.empty() ? "" : "::") + *it;
  return out;
}

std::string type_of(CXCursor c) {
  return take(clang_getTypeSpelling(clang_getCursorType(c)));
}

/// How the declaration reads: "double norm() const", "static Point origin()", "double x",
/// "struct Point", "using Id = int", "Red = 0", "#define MAX(a, b)".
std::string signature(CXCursor c, CXCursorKind kind, const std::string& name) {
  switch (kind) {
    case CXCursor_FunctionDecl:
    case CXCursor_CXXMethod:
    case CXCursor_Constructor:
    case CXCursor_Destructor:
    case CXCursor_ConversionFunction:
    case CXCursor_FunctionTemplate: {
      std::string s = kind == CXCursor_FunctionTemplate ? "template " : "";
      if (kind == CXCursor_CXXMethod && clang_CXXMethod_isStatic(c)) s += "static ";
      if (clang_CXXMethod_isVirtual(c)) s += "virtual ";
      const bool has_result = kind == CXCursor_FunctionDecl || kind == CXCursor_CXXMethod ||
                              kind == CXCursor_FunctionTemplate;
      if (has_result) s += take(clang_getTypeSpelling(clang_getCursorResultType(c))) + " ";
      const int n = clang_Cursor_getNumArguments(c);
      if (n < 0) return s + take(clang_getCursorDisplayName(c));  // templates: as displayed
      s += name + "(";
      for (int i = 0; i < n; ++i) {
        const CXCursor arg = clang_Cursor_getArgument(c, static_cast<unsigned>(i));
        const std::string arg_name = take(clang_getCursorSpelling(arg));
        s += (i > 0 ? ", " : "") + type_of(arg) + (arg_name.empty() ? "" : " " + arg_name);
      }
      if (clang_isFunctionTypeVariadic(clang_getCursorType(c))) s += n > 0 ? ", ..." : "...";
      s += ")";
      if (clang_CXXMethod_isConst(c)) s += " const";
      if (clang_CXXMethod_isPureVirtual(c)) s += " = 0";
      return s;
    }
    case CXCursor_FieldDecl:
    case CXCursor_VarDecl:
    case CXCursor_ObjCIvarDecl:
    case CXCursor_ObjCPropertyDecl:
      return type_of(c) + " " + name;
    case CXCursor_EnumConstantDecl:
      return name + " = " + std::to_string(clang_getEnumConstantDeclValue(c));
    case CXCursor_TypedefDecl:
      return "typedef " + take(clang_getTypeSpelling(clang_getTypedefDeclUnderlyingType(c))) + " " +
             name;
    case CXCursor_TypeAliasDecl:
      return "using " + name + " = " +
             take(clang_getTypeSpelling(clang_getTypedefDeclUnderlyingType(c)));
    case CXCursor_ClassDecl:
      return "class " + name;
    case CXCursor_StructDecl:
      return "struct " + name;
    case CXCursor_UnionDecl:
      return "union " + name;
    case CXCursor_EnumDecl:
      return std::string(clang_EnumDecl_isScoped(c) ? "enum class " : "enum ") + name;
    case CXCursor_Namespace:
      return "namespace " + name;
    case CXCursor_ClassTemplate:
    case CXCursor_ClassTemplatePartialSpecialization:
      return "template class " + take(clang_getCursorDisplayName(c));
    case CXCursor_MacroDefinition:
      return "#define " + name + (clang_Cursor_isMacroFunctionLike(c) ? "(...)" : "");
    default:
      return take(clang_getCursorDisplayName(c));
  }
}

void spelling_position(CXSourceLocation loc, std::uint32_t& line, std::uint32_t& column) {
  unsigned l = 0, col = 0;
  clang_getSpellingLocation(loc, nullptr, &l, &col, nullptr);
  line = l;
  column = col;
}

SourceRange range_of(CXCursor c) {
  const CXSourceRange extent = clang_getCursorExtent(c);
  SourceRange r;
  spelling_position(clang_getRangeStart(extent), r.start_line, r.start_column);
  spelling_position(clang_getRangeEnd(extent), r.end_line, r.end_column);
  return r;
}

/// A file libclang names: relative to the root when under it, else as is.
std::string repository_path(const fs::path& root, const std::string& name) {
  const fs::path p = fs::path(name).lexically_normal();
  const fs::path rel = p.lexically_relative(root);
  if (!rel.empty() && *rel.begin() != "..") return rel.generic_string();
  return p.generic_string();
}

/// The files one parse records, found by libclang's file handle: the main file and the
/// headers asked for. Every other file's cursors are skipped, subtrees and all.
class RecordedFiles {
 public:
  RecordedFiles(CXTranslationUnit tu, fs::path root, FileSymbols& main,
                const std::vector<std::string>& also)
      : tu_(tu), root_(std::move(root)), main_(main), also_(also.begin(), also.end()) {
    included_.reserve(also.size());
  }

  /// Where `loc` was expanded, when that file is recorded; else nullptr.
  FileSymbols* at(CXSourceLocation loc) {
    CXFile file = nullptr;
    clang_getExpansionLocation(loc, &file, nullptr, nullptr, nullptr);
    if (file == nullptr) return nullptr;
    const auto known = by_file_.find(file);
    if (known != by_file_.end()) return known->second;
    FileSymbols* out = nullptr;
    if (clang_Location_isFromMainFile(loc)) {
      out = &main_;
    } else if (!also_.empty()) {
      std::string path = repository_path(root_, take(clang_getFileName(file)));
      if (also_.erase(path) != 0) {
        FileSymbols f;
        f.path = std::move(path);
        std::size_t size = 0;
        const char* contents = clang_getFileContents(tu_, file, &size);
        f.content_hash = git_blob_id(std::string_view(contents != nullptr ? contents : "", size));
        included_.push_back(std::move(f));
        out = &included_.back();  // no reallocation: reserved for every file asked for
      }
    }
    by_file_.emplace(file, out);
    return out;
  }

  std::vector<FileSymbols> take_included() { return std::move(included_); }

 private:
  CXTranslationUnit tu_;
  fs::path root_;
  FileSymbols& main_;
  std::set<std::string> also_;  ///< asked for and not met yet
  std::vector<FileSymbols> included_;
  std::map<CXFile, FileSymbols*> by_file_;
};

struct Visit {
  fs::path root;  ///< canonical
  RecordedFiles* files;
};

CXChildVisitResult visit(CXCursor c, CXCursor /*parent*/, CXClientData data) {
  Visit& v = *static_cast<Visit*>(data);
  FileSymbols* out = v.files->at(clang_getCursorLocation(c));
  if (out == nullptr) return CXChildVisit_Continue;
  const CXCursorKind kind = clang_getCursorKind(c);
  if (kind == CXCursor_InclusionDirective) {
    Include include;
    std::uint32_t column = 0;
    spelling_position(clang_getCursorLocation(c), include.line, column);
    const CXFile file = clang_getIncludedFile(c);
    include.resolved = file != nullptr;
    include.path = file != nullptr ? repository_path(v.root, take(clang_getFileName(file)))
                                   : take(clang_getCursorSpelling(c));
    out->includes.push_back(std::move(include));
    return CXChildVisit_Continue;
  }
  if (const char* name_of_kind = symbol_kind(kind); name_of_kind != nullptr && !is_local(c)) {
    Symbol s;
    s.name = take(clang_getCursorSpelling(c));
    if (!s.name.empty()) {
      s.usr = take(clang_getCursorUSR(c));
      s.kind = name_of_kind;
      s.qualified_name = qualified_name(c);
      s.signature = signature(c, kind, s.name);
      // A macro's only declaration is its definition (libclang does not call it one).
      s.is_definition = kind == CXCursor_MacroDefinition || clang_isCursorDefinition(c) != 0;
      const CXCursor parent = clang_getCursorSemanticParent(c);
      if (valid(parent) && is_container(clang_getCursorKind(parent)))
        s.parent_usr = take(clang_getCursorUSR(parent));
      s.range = range_of(c);
      spelling_position(clang_getCursorLocation(c), s.line, s.column);
      out->symbols.push_back(std::move(s));
    }
  } else if (is_reference(kind)) {
    const CXCursor target = clang_getCursorReferenced(c);
    if (valid(target) && !is_local(target)) {
      Reference r;
      r.usr = take(clang_getCursorUSR(target));
      spelling_position(clang_getCursorLocation(c), r.line, r.column);
      if (!r.usr.empty()) out->references.push_back(std::move(r));
    }
  }
  return CXChildVisit_Recurse;
}

}  // namespace

ClangIndexer::ClangIndexer()
    : index_(clang_createIndex(/*excludeDeclarationsFromPCH=*/0, /*displayDiagnostics=*/0)) {}

ClangIndexer::~ClangIndexer() {
  clang_disposeIndex(static_cast<CXIndex>(index_));
}

model::Result<UnitSymbols, IndexError> ClangIndexer::index(
    const fs::path& root_in, const std::string& relative_path, std::string_view contents,
    const CompileCommand& command, const std::vector<std::string>& record_also) {
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(root_in, ec);
  const fs::path file = (root / relative_path).lexically_normal();
  const std::vector<std::string> argv = libclang_argv(command, file);
  std::vector<const char*> args;
  for (const std::string& a : argv) args.push_back(a.c_str());
  CXUnsavedFile unsaved{file.c_str(), contents.data(), static_cast<unsigned long>(contents.size())};

  const LibclangWorkingDirectory stay;
  CXTranslationUnit tu = nullptr;
  const CXErrorCode status = clang_parseTranslationUnit2FullArgv(
      static_cast<CXIndex>(index_), file.c_str(), args.data(), static_cast<int>(args.size()),
      &unsaved, 1, CXTranslationUnit_DetailedPreprocessingRecord | CXTranslationUnit_KeepGoing,
      &tu);
  if (status != CXError_Success || tu == nullptr) {
    return IndexError{relative_path + ": libclang could not parse it (" +
                      (status == CXError_Crashed ? std::string("it crashed")
                                                 : "error " + std::to_string(status)) +
                      ")"};
  }
  UnitSymbols out;
  out.main.path = relative_path;
  out.main.content_hash = git_blob_id(contents);
  RecordedFiles files(tu, root, out.main, record_also);
  Visit v{root, &files};
  clang_visitChildren(clang_getTranslationUnitCursor(tu), visit, &v);
  // An error counts against the recorded file it is in; the rest (in headers outside the
  // repository, or not recorded) against the main file, whose parse they spoiled.
  const unsigned n = clang_getNumDiagnostics(tu);
  for (unsigned i = 0; i < n; ++i) {
    const CXDiagnostic d = clang_getDiagnostic(tu, i);
    if (clang_getDiagnosticSeverity(d) >= CXDiagnostic_Error) {
      FileSymbols* in = files.at(clang_getDiagnosticLocation(d));
      ++(in != nullptr ? *in : out.main).parse_errors;
    }
    clang_disposeDiagnostic(d);
  }
  out.included = files.take_included();
  clang_disposeTranslationUnit(tu);
  return out;
}

}  // namespace mnemo::indexer
