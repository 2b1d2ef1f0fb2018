// A FileSymbols as text, a row a line (every field), so two results compare in one
// assertion and a mismatch prints the rows that differ.
#pragma once

#include <string>

#include "indexer/file_symbols.h"

namespace mnemo::testing {

inline std::string describe(const indexer::FileSymbols& f) {
  std::string out = f.path + " " + f.content_hash + " " + std::to_string(f.parse_errors) + "\n";
  for (const indexer::Symbol& s : f.symbols) {
    out += s.usr + "|" + s.kind + "|" + s.name + "|" + s.qualified_name + "|" + s.signature + "|" +
           std::to_string(s.is_definition) + "|" + s.parent_usr + "|" +
           std::to_string(s.range.start_line) + ":" + std::to_string(s.range.start_column) + "-" +
           std::to_string(s.range.end_line) + ":" + std::to_string(s.range.end_column) + "|" +
           std::to_string(s.line) + ":" + std::to_string(s.column) + "\n";
  }
  for (const indexer::Reference& r : f.references)
    out += "ref " + r.usr + " " + std::to_string(r.line) + ":" + std::to_string(r.column) + "\n";
  for (const indexer::Include& i : f.includes)
    out += "inc " + i.path + " " + std::to_string(i.line) + " " + std::to_string(i.resolved) + "\n";
  return out;
}

}  // namespace mnemo::testing
