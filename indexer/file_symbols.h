// What the indexer records of one source file: its declarations and definitions, the
// references it makes and the files it includes, as libclang reports them
// (clang_symbols.h) and the symbol database stores them (symbol_database.h). Everything is
// the file's own: a header's symbols are recorded when the header itself is indexed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "indexer/member_uses.h"

namespace mnemo::indexer {

/// 1-based lines and columns; columns count bytes, as libclang's do.
struct SourceRange {
  std::uint32_t start_line = 0, start_column = 0;
  std::uint32_t end_line = 0, end_column = 0;

  bool operator==(const SourceRange& o) const {
    return start_line == o.start_line && start_column == o.start_column && end_line == o.end_line &&
           end_column == o.end_column;
  }
};

struct Symbol {
  /// libclang's Unified Symbol Resolution: one entity has the same USR in every file, so
  /// references and declarations elsewhere find it.
  std::string usr;
  /// "namespace", "class", "struct", "union", "enum", "enumerator", "function", "method",
  /// "constructor", "destructor", "conversion", "field", "variable", "typedef",
  /// "type_alias", "class_template", "function_template", "macro".
  std::string kind;
  std::string name;
  std::string qualified_name;  ///< "geo::Point::norm"
  std::string signature;       ///< "double norm() const", "double x", "struct Point"
  bool is_definition = false;
  /// The record, enum or namespace it is declared in; empty at file scope.
  std::string parent_usr;
  SourceRange range;                   ///< the whole declaration
  std::uint32_t line = 0, column = 0;  ///< where its name is
};

struct Reference {
  std::string usr;  ///< the symbol referred to
  std::uint32_t line = 0, column = 0;
};

struct Include {
  /// The included file: relative to the repository root when it is under it, else absolute;
  /// as written when it was not found.
  std::string path;
  std::uint32_t line = 0;
  bool resolved = false;  ///< the file was found
};

struct FileSymbols {
  std::string path;          ///< relative to the repository root, '/'-separated
  std::string content_hash;  ///< git's blob id of the contents (hex SHA-1)
  std::vector<Symbol> symbols;
  std::vector<Reference> references;
  std::vector<Include> includes;
  /// Read from the text (member_uses.h), not from libclang.
  std::vector<MemberUse> member_uses;
  std::uint32_t parse_errors = 0;  ///< diagnostics of error or fatal severity
};

}  // namespace mnemo::indexer
