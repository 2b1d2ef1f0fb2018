// The names that can go at a cursor (server/names/cursor_names.h) over a fake libclang and a symbol
// index held in memory: a small multi-file C++ project whose fixtures mark the cursor with
// `^`. Also the site a cursor is at (cursor_site.h), the type a declaration gives a name
// (name_index.h) and the declarations block (declaration_block.h).
#include "server/names/cursor_names.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "server/names/cursor_site.h"
#include "server/names/declaration_block.h"
#include "tests/unit/annotated_text.h"

namespace mnemo::server {
namespace {

using test::parse_cursor;

SiteKind kind_at(std::string_view markup, const IsTypeName& is_type = {}) {
  const auto a = parse_cursor(markup);
  return cursor_site(a.text, a.cursor, is_type).kind;
}

TEST(CursorSite, AfterAnAccessOperatorAMemberGoes) {
  const auto a = parse_cursor("  env_->Ne^");
  const CursorSite site = cursor_site(a.text, a.cursor);
  EXPECT_EQ(site.kind, SiteKind::kMember);
  EXPECT_EQ(site.access, "->");
  EXPECT_EQ(site.object, "env_");
  EXPECT_EQ(site.typed, "Ne");
  EXPECT_EQ(kind_at("point.^"), SiteKind::kMember);
  EXPECT_EQ(kind_at("std::^"), SiteKind::kMember);
  EXPECT_EQ(kind_at("f(a)->^"), SiteKind::kMember);
  EXPECT_EQ(cursor_site("f(a)->", 6).object, "");
}

TEST(CursorSite, ANumberOrAnEllipsisIsNoMemberAccess) {
  EXPECT_EQ(kind_at("x = 1.^"), SiteKind::kScope);
  EXPECT_EQ(kind_at("f(...^"), SiteKind::kScope);
}

TEST(CursorSite, AfterATypeANewNameIsDeclared) {
  EXPECT_EQ(kind_at("  int ^"), SiteKind::kDeclaration);
  EXPECT_EQ(kind_at("  unsigned long *^"), SiteKind::kDeclaration);
  EXPECT_EQ(kind_at("  struct page *^"), SiteKind::kDeclaration);
  EXPECT_EQ(kind_at("#define ^"), SiteKind::kDeclaration);
  EXPECT_EQ(kind_at("  std::vector<int> ^"), SiteKind::kDeclaration);
  const auto is_type = [](std::string_view w) { return w == "Env"; };
  EXPECT_EQ(kind_at("  Env *^", is_type), SiteKind::kDeclaration);
  // Not declarations: a tag names an existing one, an expression goes on, a keyword.
  EXPECT_EQ(kind_at("  struct ^"), SiteKind::kScope);
  EXPECT_EQ(kind_at("namespace ^"), SiteKind::kScope);  // reopened as often as opened
  EXPECT_EQ(kind_at("#ifdef ^"), SiteKind::kScope);
  EXPECT_EQ(kind_at("  x = y * ^", is_type), SiteKind::kScope);
  EXPECT_EQ(kind_at("  return ^"), SiteKind::kScope);
  EXPECT_EQ(kind_at("  if (a > ^"), SiteKind::kScope);
  EXPECT_EQ(kind_at("  f(^"), SiteKind::kScope);
}

TEST(DeclaredType, IsReadFromTheDeclarationsWords) {
  EXPECT_EQ(declared_type("struct ext4_sb_info *sbi", "sbi"), "ext4_sb_info");
  EXPECT_EQ(declared_type("  Env *env_ = nullptr;", "env_"), "Env");
  EXPECT_EQ(declared_type("const std::string &s", "s"), "string");
  EXPECT_EQ(declared_type("std::vector<Edge> edges", "edges"), "vector");
  EXPECT_EQ(declared_type("int count", "count"), "");
  EXPECT_EQ(declared_type("return sbi", "sbi"), "");
  EXPECT_EQ(declared_type("x = y", "z"), "");
}

/// A symbol index of a small project: db/env.h declares Env and its members, db/table.h
/// includes it and declares Table and OpenTable, db/table.cc is where the cursor is.
class FakeIndex : public NameIndex {
 public:
  FakeIndex() {
    scope_["db/table.cc"] = {
        {"OpenTable", "function", "Status OpenTable(Env *env)", "db/table.h", 3},
        {"Table", "class", "class Table", "db/table.h", 5},
        {"Env", "class", "class Env", "db/env.h", 2},
        {"NewEnv", "function", "Env *NewEnv()", "db/env.h", 9},
        {"kBlockSize", "variable", "const int kBlockSize", "db/env.h", 10}};
    members_["Env"] = {
        {"NewFile", "method", "Status NewFile(const char *name)", "db/env.h", 3},
        {"RemoveFile", "method", "Status RemoveFile(const char *name)", "db/env.h", 4},
        {"name_", "field", "const char *name_", "db/env.h", 6}};
    members_["Table"] = {{"Sync", "method", "Status Sync()", "db/table.h", 6}};
    uses_ = {{"NewFile", 12}, {"RemoveFile", 2}, {"Sync", 40}, {"OpenTable", 3}, {"NewEnv", 9}};
  }
  const std::vector<IndexedName>& file_scope(const std::string& file) override {
    return scope_[file];
  }
  std::vector<IndexedName> members_of(const std::string& type) override {
    ++member_lookups;
    return members_[type];
  }
  const std::vector<IndexedName>& member_names() override {
    all_members_.clear();
    for (const auto& [type, members] : members_)
      all_members_.insert(all_members_.end(), members.begin(), members.end());
    return all_members_;
  }
  const std::unordered_map<std::string, std::uint64_t>& uses() override { return uses_; }
  std::unordered_map<std::string, std::uint64_t> members_used_on(
      const std::string& receiver, indexer::MemberAccess access,
      const std::string& except_file) override {
    last_member_uses_except = except_file;
    return access == indexer::MemberAccess::kScope
               ? std::unordered_map<std::string, std::uint64_t>{}
               : member_uses[receiver];
  }
  const std::vector<std::string>& names() override {
    all_names_.clear();
    for (const auto& [file, names] : scope_)
      for (const IndexedName& n : names) all_names_.push_back(n.name);
    for (const auto& [type, members] : members_)
      for (const IndexedName& n : members) all_names_.push_back(n.name);
    all_names_.push_back("RepairTable");  // declared in a header db/table.cc does not include
    std::sort(all_names_.begin(), all_names_.end());
    return all_names_;
  }
  std::vector<IndexedName> declarations(const std::string& name) override {
    std::vector<IndexedName> out;
    for (const auto& [file, names] : scope_)
      for (const IndexedName& n : names)
        if (n.name == name) out.push_back(n);
    for (const auto& [type, members] : members_)
      for (const IndexedName& n : members)
        if (n.name == name) out.push_back(n);
    if (name == "env_") out.push_back({"env_", "field", "Env *env_", "db/table.h", 8});
    return out;
  }
  int member_lookups = 0;
  /// Members written after each receiver (with `.` or `->`) in the repository.
  std::map<std::string, std::unordered_map<std::string, std::uint64_t>> member_uses;
  std::string last_member_uses_except;

 private:
  std::map<std::string, std::vector<IndexedName>> scope_;
  std::map<std::string, std::vector<IndexedName>> members_;
  std::vector<IndexedName> all_members_;
  std::vector<std::string> all_names_;
  std::unordered_map<std::string, std::uint64_t> uses_;
};

std::vector<std::string> names_of(const CursorNames& names) {
  std::vector<std::string> out;
  for (const NameCandidate& c : names.names) out.push_back(c.name);
  return out;
}

CursorNamesRequest request_at(const test::AnnotatedText& a) {
  CursorNamesRequest r;
  r.path = "/repo/db/table.cc";
  r.root = "/repo";
  r.file = "db/table.cc";
  r.text = a.text;
  r.cursor = a.cursor;
  return r;
}

TEST(CursorNames, WithoutLibclangTheMembersOfTheLeftSidesDeclaredTypeGo) {
  FakeIndex index;
  CursorNameFinder finder({}, &index);
  const auto a = parse_cursor("Status Table::Flush(Env *env) {\n  return env->^\n}\n");
  const CursorNames names = finder.find(request_at(a), {});
  EXPECT_EQ(names.site.kind, SiteKind::kMember);
  EXPECT_EQ(names.source, "index_type");
  const auto found = names_of(names);
  EXPECT_EQ(std::set<std::string>(found.begin(), found.end()),
            (std::set<std::string>{"NewFile", "RemoveFile", "name_"}));
  // The repository's most used member comes first.
  EXPECT_EQ(found.front(), "NewFile");
}

const NameCandidate* candidate(const CursorNames& names, const std::string& name) {
  for (const NameCandidate& c : names.names)
    if (c.name == name) return &c;
  return nullptr;
}

TEST(CursorNames, TheMembersWrittenAfterTheSameNameElsewhereAndBeforeTheCursorRankFirst) {
  FakeIndex index;
  index.member_uses["env"] = {{"RemoveFile", 30}, {"Unknown", 1}};
  NamePriorWeights weights;
  weights.member.receiver_uses = 3.0;
  CursorNameFinder finder({}, &index, weights);
  const auto a = parse_cursor(
      "Status Table::Flush(Env *env) {\n  env->name_ = 0;\n  f(env->name_, other->name_);\n"
      "  return env->^\n}\n");
  const CursorNames names = finder.find(request_at(a), {});
  // The document's stored copy is left out: its text before the cursor counts instead.
  EXPECT_EQ(index.last_member_uses_except, "db/table.cc");
  const NameCandidate* remove = candidate(names, "RemoveFile");
  const NameCandidate* name = candidate(names, "name_");
  const NameCandidate* create = candidate(names, "NewFile");
  ASSERT_NE(remove, nullptr);
  ASSERT_NE(name, nullptr);
  ASSERT_NE(create, nullptr);
  EXPECT_EQ(remove->receiver_uses, 30u);
  EXPECT_EQ(name->receiver_uses, 2u);  // `other->name_` is another receiver's
  EXPECT_EQ(create->receiver_uses, 0u);
  // Without the signal the repository's most used member (NewFile) comes first.
  EXPECT_EQ(names_of(names).front(), "RemoveFile");
  // A name the index offers that is no member of Env is still no candidate.
  EXPECT_EQ(candidate(names, "Unknown"), nullptr);
}

TEST(CursorNames, AFieldsTypeComesFromTheIndexWhenTheDocumentDoesNotDeclareIt) {
  FakeIndex index;
  CursorNameFinder finder({}, &index);
  const auto a = parse_cursor("void Table::Close() {\n  env_->^\n}\n");
  const CursorNames names = finder.find(request_at(a), {});
  EXPECT_EQ(names.source, "index_type");
  EXPECT_EQ(names.names.size(), 3u);
}

TEST(CursorNames, AnUnknownTypeOffersEveryMemberOfTheRepository) {
  FakeIndex index;
  CursorNameFinder finder({}, &index);
  const auto a = parse_cursor("void f() {\n  make()->^\n}\n");
  const CursorNames names = finder.find(request_at(a), {});
  EXPECT_EQ(names.source, "index_members");
  const auto found = names_of(names);
  EXPECT_EQ(std::set<std::string>(found.begin(), found.end()),
            (std::set<std::string>{"NewFile", "RemoveFile", "name_", "Sync"}));
}

TEST(CursorNames, LibclangsMembersAreTheAnswerWhenItGivesThem) {
  FakeIndex index;
  int calls = 0;
  SemanticQuery asked;
  const SemanticSource clang = [&](const SemanticQuery& q, const lsp::CancellationToken&) {
    ++calls;
    asked = q;
    SemanticList list;
    list.items.push_back(
        {"NewFile", "NewFile(const char *name)", "Status", "", CompletionItemKind::kFunction});
    return EngineResult<SemanticList>(list);
  };
  CursorNameFinder finder(clang, &index);
  const auto a = parse_cursor("void f(Env *env) {\n  env->New^\n}\n");
  const CursorNames names = finder.find(request_at(a), {});
  EXPECT_EQ(names.source, "compiler");
  EXPECT_EQ(names_of(names), (std::vector<std::string>{"NewFile"}));
  // libclang completes at the word's start (1-based line 2, column 8), whatever is typed.
  EXPECT_EQ(asked.line, 2u);
  EXPECT_EQ(asked.column, 8u);
  EXPECT_EQ(asked.prefix, "");
  // The names wait a moment for libclang busy with the menu rather than take the index's.
  EXPECT_GT(asked.busy_wait.count(), 0);
  // Typing the word asks nothing again.
  const auto b = parse_cursor("void f(Env *env) {\n  env->NewF^\n}\n");
  const CursorNames again = finder.find(request_at(b), {});
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(again.site.typed, "NewF");
}

TEST(CursorNames, AfterAnArrowTheClassAsQualifierItsDestructorAndOperatorsAreNoNames) {
  FakeIndex index;
  const SemanticSource clang = [](const SemanticQuery&, const lsp::CancellationToken&) {
    SemanticList list;
    list.items.push_back({"Env", "Env::", "", "", CompletionItemKind::kType});
    list.items.push_back(
        {"operator=", "operator=(const Env &)", "Env &", "", CompletionItemKind::kFunction});
    list.items.push_back({"~Env", "~Env()", "", "", CompletionItemKind::kFunction});
    list.items.push_back({"Sync", "Sync()", "Status", "", CompletionItemKind::kFunction});
    return EngineResult<SemanticList>(list);
  };
  CursorNameFinder finder(clang, &index);
  const CursorNames arrow =
      finder.find(request_at(parse_cursor("void f(Env *env) {\n  env->^\n}\n")), {});
  EXPECT_EQ(names_of(arrow), (std::vector<std::string>{"Sync"}));
  // After `::` a type is a member like any other (`leveldb::Env`).
  const CursorNames scope =
      finder.find(request_at(parse_cursor("void f() {\n  leveldb::^\n}\n")), {});
  const auto found = names_of(scope);
  EXPECT_EQ(std::set<std::string>(found.begin(), found.end()),
            (std::set<std::string>{"Env", "Sync"}));
}

TEST(CursorNames, AnAnswerMadeWhileLibclangWasBusyIsNotKept) {
  FakeIndex index;
  int calls = 0;
  const SemanticSource clang = [&](const SemanticQuery&,
                                   const lsp::CancellationToken&) -> EngineResult<SemanticList> {
    if (++calls == 1) return EngineError{EngineError::Kind::kInternal, "libclang is busy"};
    SemanticList list;
    list.items.push_back({"Sync", "Sync()", "Status", "", CompletionItemKind::kFunction});
    return list;
  };
  CursorNameFinder finder(clang, &index);
  const auto a = parse_cursor("void f(Env *env) {\n  env->^\n}\n");
  EXPECT_EQ(finder.find(request_at(a), {}).source, "index_type");
  const CursorNames again = finder.find(request_at(a), {});
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(again.source, "compiler");
  EXPECT_EQ(names_of(again), (std::vector<std::string>{"Sync"}));
  // Once libclang has answered, the answer is kept for the word.
  finder.find(request_at(a), {});
  EXPECT_EQ(calls, 2);
}

TEST(CursorNames, ElsewhereTheNamesInScopeTheDocumentsAndTheKeywordsGo) {
  FakeIndex index;
  CursorNameFinder finder({}, &index);
  const auto a =
      parse_cursor("Status Table::Open() {\n  Env *local_env = NewEnv();\n  Status s = ^\n}\n");
  const CursorNames names = finder.find(request_at(a), {});
  EXPECT_EQ(names.site.kind, SiteKind::kScope);
  EXPECT_EQ(names.source, "scope");
  const auto found = names_of(names);
  for (const char* expected : {"OpenTable", "NewEnv", "kBlockSize", "local_env", "return"})
    EXPECT_NE(std::find(found.begin(), found.end(), expected), found.end()) << expected;
  // Members are not in scope here; the word at the cursor is no name.
  EXPECT_EQ(std::find(found.begin(), found.end(), "NewFile"), found.end());
  // Used just before the cursor: local_env and NewEnv outrank what the file never used.
  const auto rank = [&](const char* name) {
    return std::find(found.begin(), found.end(), name) - found.begin();
  };
  EXPECT_LT(rank("local_env"), rank("OpenTable"));
  EXPECT_LT(rank("NewEnv"), rank("OpenTable"));
}

TEST(CursorNames, WordsOfCommentsAndStringsAreNoNamesOfTheDocument) {
  CursorNameFinder finder({}, nullptr);
  const auto a = parse_cursor(
      "// the table is flushed here\nvoid f(int rows) {\n  puts(\"no such file\");\n  "
      "/* then */ g(1'000, 'x', rows);\n  ^\n}\n");
  const auto found = names_of(finder.find(request_at(a), {}));
  for (const char* prose : {"the", "table", "flushed", "no", "such", "file", "then", "x"})
    EXPECT_EQ(std::find(found.begin(), found.end(), prose), found.end()) << prose;
  for (const char* code : {"f", "rows", "puts", "g"})
    EXPECT_NE(std::find(found.begin(), found.end(), code), found.end()) << code;
}

TEST(CursorNames, ANameTypedThatNoneInScopeBeginsIsLookedForInTheWholeRepository) {
  FakeIndex index;
  CursorNameFinder finder({}, &index);
  const auto a = parse_cursor("void f() {\n  Rep^\n}\n");
  std::vector<std::string> typed_on;
  for (const std::string& name : names_of(finder.find(request_at(a), {})))
    if (name.rfind("Rep", 0) == 0) typed_on.push_back(name);
  EXPECT_EQ(typed_on, (std::vector<std::string>{"RepairTable"}));
  // Where names in scope begin with it, those stay the answer.
  const auto b = parse_cursor("void f() {\n  Op^\n}\n");
  const auto found = names_of(finder.find(request_at(b), {}));
  EXPECT_NE(std::find(found.begin(), found.end(), "OpenTable"), found.end());
  EXPECT_EQ(std::find(found.begin(), found.end(), "RepairTable"), found.end());
}

TEST(CursorNames, AfterATypeTheSiteIsADeclaration) {
  FakeIndex index;
  CursorNameFinder finder({}, &index);
  const auto a = parse_cursor("void f() {\n  Table ^\n}\n");
  EXPECT_EQ(finder.find(request_at(a), {}).site.kind, SiteKind::kDeclaration);
}

TEST(DeclarationBlock, HoldsTheMembersAndTheNamesUsedNearTheCursorWithinItsBudget) {
  FakeIndex index;
  CursorNameFinder finder({}, &index);
  const auto a = parse_cursor("void Table::Close() {\n  Env *e = NewEnv();\n  e->^\n}\n");
  const CursorNames names = finder.find(request_at(a), {});
  DeclarationBlockRequest r;
  r.text = a.text;
  r.cursor = a.cursor;
  r.file = "db/table.cc";
  r.names = &names;
  r.budget_tokens = 1000;
  // One token per 4 bytes, roughly as a code tokenizer.
  const TokenCounter count = [](std::string_view t) { return (t.size() + 3) / 4; };
  const std::string block = declaration_block(index, r, count);
  EXPECT_NE(block.find("// declarations in db/env.h:\n"), std::string::npos) << block;
  EXPECT_NE(block.find("// Status NewFile(const char *name);\n"), std::string::npos) << block;
  EXPECT_NE(block.find("// Env *NewEnv();\n"), std::string::npos) << block;
  // The unused function of the includes comes too (OpenTable, in db/table.h).
  EXPECT_NE(block.find("// Status OpenTable(Env *env);\n"), std::string::npos) << block;
  // Within a small budget, the members (first) stay and the rest goes.
  r.budget_tokens = 24;
  const std::string small = declaration_block(index, r, count);
  EXPECT_LE(count(small), 24u);
  EXPECT_NE(small.find("NewFile"), std::string::npos) << small;
  EXPECT_EQ(small.find("OpenTable"), std::string::npos) << small;
  r.budget_tokens = 0;
  EXPECT_EQ(declaration_block(index, r, count), "");
}

}  // namespace
}  // namespace mnemo::server
