#include "server/names/symbol_database_names.h"

#include <algorithm>
#include <deque>
#include <set>
#include <utility>

namespace mnemo::server {
namespace {

/// Files whose include closures are kept: a request asks about one file at a time, and an
/// evaluation goes through a repository's files in order.
constexpr std::size_t kKeptFileScopes = 8;
/// Types whose members are kept.
constexpr std::size_t kKeptTypes = 256;

IndexedName indexed(const indexer::SymbolInFile& s) {
  return {s.symbol.name, s.symbol.kind, s.symbol.signature, s.file, s.symbol.line};
}

/// Declared inside a record, where only `.`, `->` or `::` reach it.
bool is_record_member(const std::string& kind) {
  return kind == "field" || kind == "method" || kind == "constructor" || kind == "destructor" ||
         kind == "conversion";
}

bool is_scope_kind(const std::string& kind) {
  return kind == "struct" || kind == "class" || kind == "union" || kind == "enum" ||
         kind == "namespace" || kind == "class_template";
}

}  // namespace

SymbolDatabaseNames::SymbolDatabaseNames(indexer::SymbolDatabase& database) : database_(database) {}

void SymbolDatabaseNames::refresh() {
  file_scopes_.clear();
  member_names_.reset();
  uses_.reset();
  names_.reset();
  members_.clear();
}

const std::vector<IndexedName>& SymbolDatabaseNames::file_scope(const std::string& file) {
  if (const auto found = file_scopes_.find(file); found != file_scopes_.end()) return found->second;
  if (file_scopes_.size() >= kKeptFileScopes) file_scopes_.clear();
  std::vector<IndexedName>& out = file_scopes_[file];
  std::set<std::string> seen{file};
  std::deque<std::string> pending{file};
  std::set<std::string> names;
  while (!pending.empty()) {
    const std::string path = std::move(pending.front());
    pending.pop_front();
    if (auto symbols = database_.symbols_in_file(path)) {
      for (const indexer::Symbol& s : symbols.value()) {
        if (is_record_member(s.kind) || !names.insert(s.name).second) continue;
        out.push_back({s.name, s.kind, s.signature, path, s.line});
      }
    }
    if (auto includes = database_.includes_of_file(path)) {
      for (const indexer::Include& include : includes.value()) {
        if (include.resolved && seen.insert(include.path).second) pending.push_back(include.path);
      }
    }
  }
  return out;
}

std::vector<IndexedName> SymbolDatabaseNames::members_of(const std::string& type) {
  if (const auto found = members_.find(type); found != members_.end()) return found->second;
  std::vector<IndexedName> out;
  std::set<std::string> parents;  // the USRs of the records, enums and namespaces so named
  auto named = database_.symbols_named(type);
  if (named) {
    for (const indexer::SymbolInFile& s : named.value()) {
      if (is_scope_kind(s.symbol.kind)) parents.insert(s.symbol.usr);
      if (s.symbol.kind == "typedef" || s.symbol.kind == "type_alias") {
        // `typedef struct foo foo_t`: the record it names.
        const std::string record = declared_type(s.symbol.signature, type);
        if (record.empty() || record == type) continue;
        if (auto records = database_.symbols_named(record)) {
          for (const indexer::SymbolInFile& r : records.value())
            if (is_scope_kind(r.symbol.kind)) parents.insert(r.symbol.usr);
        }
      }
    }
  }
  std::set<std::string> names;
  for (const std::string& parent : parents) {
    if (auto members = database_.members_of(parent)) {
      for (const indexer::SymbolInFile& m : members.value()) {
        if (m.symbol.kind == "constructor" || m.symbol.kind == "destructor") continue;
        if (names.insert(m.symbol.name).second) out.push_back(indexed(m));
      }
    }
  }
  if (members_.size() >= kKeptTypes) members_.clear();
  members_[type] = out;
  return out;
}

const std::vector<IndexedName>& SymbolDatabaseNames::member_names() {
  if (!member_names_) {
    member_names_.emplace();
    std::set<std::string> names;
    for (const char* kind : {"field", "method"}) {
      if (auto found = database_.symbols_of_kind(kind)) {
        for (const indexer::SymbolInFile& s : found.value())
          if (names.insert(s.symbol.name).second) member_names_->push_back(indexed(s));
      }
    }
  }
  return *member_names_;
}

const std::unordered_map<std::string, std::uint64_t>& SymbolDatabaseNames::uses() {
  if (!uses_) {
    uses_.emplace();
    if (auto frequencies = database_.name_frequencies()) {
      for (const auto& [name, count] : frequencies.value()) uses_->emplace(name, count);
    }
  }
  return *uses_;
}

const std::vector<std::string>& SymbolDatabaseNames::names() {
  if (!names_) {
    auto all = database_.symbol_names();
    names_ = all ? std::move(all).value() : std::vector<std::string>();
  }
  return *names_;
}

std::unordered_map<std::string, std::uint64_t> SymbolDatabaseNames::members_used_on(
    const std::string& receiver, indexer::MemberAccess access, const std::string& except_file) {
  std::unordered_map<std::string, std::uint64_t> out;
  if (receiver.empty()) return out;
  auto used = database_.members_used_on(receiver, access, except_file);
  if (!used) return out;  // an index without the table answers nothing, as one without uses
  for (auto& [member, uses] : used.value()) out.emplace(std::move(member), uses);
  return out;
}

std::vector<IndexedName> SymbolDatabaseNames::declarations(const std::string& name) {
  std::vector<IndexedName> out;
  if (auto found = database_.symbols_named(name)) {
    std::stable_partition(found.value().begin(), found.value().end(),
                          [](const indexer::SymbolInFile& s) { return s.symbol.is_definition; });
    for (const indexer::SymbolInFile& s : found.value()) out.push_back(indexed(s));
  }
  return out;
}

}  // namespace mnemo::server
