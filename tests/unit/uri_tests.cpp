// Path <-> file URI conversion: open documents and workspace files must meet under one
// key whatever the client chose to percent-encode.
#include "lsp/uri.h"

#include <gtest/gtest.h>

namespace mnemo::lsp {
namespace {

TEST(FileUriTest, EncodesSpacesAndNonAscii) {
  EXPECT_EQ(path_to_file_uri("/home/me/My Project/größe.cc"),
            "file:///home/me/My%20Project/gr%C3%B6%C3%9Fe.cc");
  EXPECT_EQ(path_to_file_uri("/src/c++/a#b?.h"), "file:///src/c%2B%2B/a%23b%3F.h");
}

TEST(FileUriTest, RoundTrips) {
  for (const char* path :
       {"/home/me/My Project/größe.cc", "/tmp/%41 odd/変数.py", "/a/b~c-d_e.f"}) {
    const auto back = file_uri_to_path(path_to_file_uri(path));
    ASSERT_TRUE(back.has_value()) << path;
    EXPECT_EQ(back->generic_string(), path);
  }
}

TEST(FileUriTest, DecodesWhatClientsSend) {
  EXPECT_EQ(file_uri_to_path("file:///home/me/My%20Project/gr%c3%b6%c3%9fe.cc")->generic_string(),
            "/home/me/My Project/größe.cc");
  // Characters a client may leave unescaped.
  EXPECT_EQ(file_uri_to_path("file:///src/c++/a:b.h")->generic_string(), "/src/c++/a:b.h");
  EXPECT_EQ(file_uri_to_path("FILE://LocalHost/tmp/x.cc")->generic_string(), "/tmp/x.cc");
  EXPECT_EQ(file_uri_to_path("file:/tmp/x.cc")->generic_string(), "/tmp/x.cc");
  EXPECT_EQ(file_uri_to_path("file:///tmp/x.cc#L10")->generic_string(), "/tmp/x.cc");
}

TEST(FileUriTest, RejectsWhatIsNotALocalFile) {
  EXPECT_FALSE(file_uri_to_path("untitled:Untitled-1"));
  EXPECT_FALSE(file_uri_to_path("https://example.com/a.cc"));
  EXPECT_FALSE(file_uri_to_path("file://server/share/a.cc"));
  EXPECT_FALSE(file_uri_to_path("file:///tmp/bad%G1"));
  EXPECT_FALSE(file_uri_to_path("file:///tmp/trailing%2"));
  EXPECT_FALSE(file_uri_to_path("file:///tmp/nul%00"));
  EXPECT_FALSE(file_uri_to_path("file:"));
}

TEST(FileUriTest, PercentCodec) {
  EXPECT_EQ(percent_encode("a b/c", /*keep_slash=*/false), "a%20b%2Fc");
  EXPECT_EQ(percent_encode("a b/c", /*keep_slash=*/true), "a%20b/c");
  EXPECT_EQ(percent_decode("a%20b%2fc"), "a b/c");
  EXPECT_EQ(percent_decode("100%"), std::nullopt);
}

TEST(FileUriTest, PathKeysMeet) {
  EXPECT_EQ(path_key("/a/b/../c/./d.cc"), "/a/c/d.cc");
  EXPECT_EQ(uri_path_key("file:///a/c%2B%2B/x.cc"), path_key("/a/c++/x.cc"));
  EXPECT_EQ(uri_path_key(path_to_file_uri("/w s/ü.rs")), "/w s/ü.rs");
  EXPECT_EQ(uri_path_key("untitled:1"), "");
  // Relative paths are taken against the current directory.
  EXPECT_EQ(file_uri_to_path(path_to_file_uri("rel/x.cc"))->generic_string(),
            path_key(std::filesystem::current_path() / "rel/x.cc"));
}

}  // namespace
}  // namespace mnemo::lsp
