// The order of an index run's parses (indexer/parse_order.h): #include names read from the
// text, and sources, then headers nothing includes, then the other headers.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "indexer/parse_order.h"

namespace mnemo::indexer {
namespace {

using Names = std::vector<std::string>;

TEST(IncludedNames, EveryIncludeAndImportDirectiveIsReadAsWritten) {
  const std::string text =
      "#include <vector>\n"
      "  #  include \"geo/point.h\" // a comment\n"
      "#import <Foundation/Foundation.h>\n"
      "#include_next <stdio.h>\n"
      "#define INCLUDE <x.h>\n"
      "// #include \"commented.h\"\n"
      "#include MACRO_HEADER\n"
      "#include <>\n"
      "#include \"unterminated.h\n"
      "\t#include\t\"tabs.h\"";
  EXPECT_EQ(included_names(text),
            (Names{"vector", "geo/point.h", "Foundation/Foundation.h", "tabs.h"}));
}

TEST(ParseOrder, SourcesThenHeadersNothingIncludesThenTheRestEachByPath) {
  const Names paths{"lib/a.hpp", "lib.hpp", "src/z.cpp", "lib/b.hpp", "src/a.c", "other/a.hpp"};
  const std::vector<Names> includes{
      {"lib/b.hpp"},              // lib/a.hpp
      {"lib/a.hpp", "vector"},    // lib.hpp
      {"a.hpp"},                  // src/z.cpp: a name matches every path it ends
      {},                         // lib/b.hpp
      {"b.hpp", "notlib/b.hpp"},  // src/a.c
      {},                         // other/a.hpp
  };
  EXPECT_EQ(parse_order(paths, includes),
            (Names{"src/a.c", "src/z.cpp", "lib.hpp", "lib/a.hpp", "lib/b.hpp", "other/a.hpp"}));
}

TEST(ParseOrder, ANameMatchesOnlyWholePathComponents) {
  const Names paths{"mylib/a.h", "b.h", "x/lib/a.h"};
  const std::vector<Names> includes{{}, {"lib/a.h"}, {}};
  // "lib/a.h" is a suffix of "mylib/a.h" but not at a '/': only x/lib/a.h is included.
  EXPECT_EQ(parse_order(paths, includes), (Names{"b.h", "mylib/a.h", "x/lib/a.h"}));
}

}  // namespace
}  // namespace mnemo::indexer
