// The repository walk (indexer/repository_walk.h): git's ignore rules at every level,
// .git/info/exclude and the user's excludes file; the default folders outside git; binary,
// huge and special files; symbolic links that loop or lead outside the root.
#include <git2.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "indexer/repository_walk.h"
#include "tests/support/temp_dir.h"

namespace mnemo::indexer {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

/// A git work tree made with libgit2 (no commit needed: ignore rules apply to the work tree).
void git_init(const fs::path& dir) {
  git_libgit2_init();
  git_repository* repo = nullptr;
  ASSERT_EQ(git_repository_init(&repo, dir.c_str(), 0), 0);
  git_repository_free(repo);
  git_libgit2_shutdown();
}

std::vector<std::string> paths(const WalkResult& r) {
  std::vector<std::string> out;
  for (const WalkedFile& f : r.files) out.push_back(f.path);
  return out;
}

std::map<std::string, SkipReason> skipped(const WalkResult& r) {
  std::map<std::string, SkipReason> out;
  for (const SkippedPath& s : r.skipped) out.emplace(s.path, s.reason);
  return out;
}

WalkResult walk(const fs::path& root, const WalkOptions& options = {}) {
  auto result = walk_repository(root, options);
  EXPECT_TRUE(result) << (result ? "" : result.error().message);
  return result ? std::move(result).value() : WalkResult{};
}

/// Points libgit2's global configuration ($HOME/.gitconfig) at a folder of the test's, with
/// core.excludesFile set, for the duration of a test. libgit2 reads HOME when it is
/// initialized, and the walk initializes it anew each time.
class UserExcludes {
 public:
  UserExcludes(const TempDir& home, const std::string& patterns) {
    const fs::path excludes = home.write("git-excludes", patterns);
    home.write(".gitconfig", "[core]\n\texcludesFile = " + excludes.string() + "\n");
    if (const char* old = std::getenv("HOME")) old_home_ = old;
    setenv("HOME", home.path().c_str(), 1);
    if (const char* xdg = std::getenv("XDG_CONFIG_HOME")) old_xdg_ = xdg;
    unsetenv("XDG_CONFIG_HOME");
  }
  ~UserExcludes() {
    setenv("HOME", old_home_.c_str(), 1);
    if (!old_xdg_.empty()) setenv("XDG_CONFIG_HOME", old_xdg_.c_str(), 1);
  }
  UserExcludes(const UserExcludes&) = delete;
  UserExcludes& operator=(const UserExcludes&) = delete;

 private:
  std::string old_home_, old_xdg_;
};

TEST(RepositoryWalk, GitDecidesWhatIsIgnoredAtEveryLevel) {
  TempDir repo, home;
  git_init(repo.path());
  const UserExcludes user(home, "*.orig\n");
  repo.write(".gitignore", "*.log\n!keep.log\nbuild/\n/generated.h\n");
  repo.write(".git/info/exclude", "secret.txt\n");
  repo.write("src/nested/.gitignore", "local_only.txt\n");
  for (const char* f :
       {"src/a.cpp", "src/b.h", "src/generated.h", "src/nested/c.cpp", "src/nested/local_only.txt",
        "local_only.txt", "app.log", "keep.log", "build/out.cpp", "generated.h", "secret.txt",
        "patch.orig", ".github/workflow.yml"}) {
    repo.write(f, "int x;\n");
  }

  const WalkResult r = walk(repo.path());
  EXPECT_TRUE(r.in_git);
  EXPECT_EQ(paths(r),
            (std::vector<std::string>{".github/workflow.yml", ".gitignore", "keep.log",
                                      "local_only.txt", "src/a.cpp", "src/b.h", "src/generated.h",
                                      "src/nested/.gitignore", "src/nested/c.cpp"}));
  EXPECT_EQ(skipped(r), (std::map<std::string, SkipReason>{
                            {"app.log", SkipReason::kIgnored},
                            {"build", SkipReason::kIgnored},
                            {"generated.h", SkipReason::kIgnored},
                            {"patch.orig", SkipReason::kIgnored},
                            {"secret.txt", SkipReason::kIgnored},
                            {"src/nested/local_only.txt", SkipReason::kIgnored},
                        }));
  EXPECT_EQ(r.files.front().size, 7u);
}

TEST(RepositoryWalk, ARootInsideAWorkTreeUsesTheWorkTreesRulesAndItsOwnPaths) {
  TempDir repo;
  git_init(repo.path());
  repo.write(".gitignore", "sub/gen/\n*.tmp\n");
  repo.write("sub/main.cpp", "int main() {}\n");
  repo.write("sub/gen/table.cpp", "int t;\n");
  repo.write("sub/scratch.tmp", "x\n");
  repo.write("other.cpp", "int o;\n");

  const WalkResult r = walk(repo.path() / "sub");
  EXPECT_TRUE(r.in_git);
  EXPECT_EQ(paths(r), std::vector<std::string>{"main.cpp"});
  EXPECT_EQ(skipped(r), (std::map<std::string, SkipReason>{{"gen", SkipReason::kIgnored},
                                                           {"scratch.tmp", SkipReason::kIgnored}}));
}

TEST(RepositoryWalk, OutsideGitDefaultAndConfiguredFoldersAreSkipped) {
  TempDir dir;
  for (const char* f :
       {"src/x.cpp", "build/x.o.cpp", "build-debug/y.cpp", ".cache/z.cpp",
        "third_party/lib/lib.cpp", "src/vendor/v.cpp", "node_modules/m.js", ".clang-format"}) {
    dir.write(f, "x\n");
  }
  const WalkResult r = walk(dir.path());
  EXPECT_FALSE(r.in_git);
  // A hidden file is read (.clang-format); hidden folders are skipped outside git.
  EXPECT_EQ(paths(r), (std::vector<std::string>{".clang-format", "src/x.cpp"}));
  EXPECT_EQ(skipped(r), (std::map<std::string, SkipReason>{
                            {".cache", SkipReason::kIgnored},
                            {"build", SkipReason::kIgnored},
                            {"build-debug", SkipReason::kIgnored},
                            {"node_modules", SkipReason::kSkippedFolder},
                            {"src/vendor", SkipReason::kSkippedFolder},
                            {"third_party", SkipReason::kSkippedFolder},
                        }));
}

TEST(RepositoryWalk, BinaryHugeAndSpecialFilesAndLinksAreReportedNotRead) {
  TempDir repo, outside;
  git_init(repo.path());
  repo.write("src/a.cpp", "int a;\n");
  repo.write("logo.png", std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16));
  repo.write("late_nul.txt", std::string(9000, 'x') + '\0');  // past the 8000-byte probe
  repo.write("huge.cpp", std::string((1u << 20) + 1, 'x'));
  repo.write("exactly_max.cpp", std::string(1u << 20, 'x'));
  ASSERT_EQ(mkfifo((repo.path() / "pipe").c_str(), 0600), 0);
  outside.write("elsewhere.cpp", "int e;\n");
  fs::create_directory_symlink("..", repo.path() / "src" / "loop");  // an ancestor
  fs::create_directory_symlink(repo.path() / "src" / "loop", repo.path() / "loop2");
  fs::create_directory_symlink(outside.path(), repo.path() / "outside");
  fs::create_symlink("src/a.cpp", repo.path() / "alias.cpp");
  fs::create_symlink("missing.cpp", repo.path() / "broken.cpp");
  fs::create_symlink("self", repo.path() / "self");  // resolves to itself

  const WalkResult r = walk(repo.path());
  EXPECT_EQ(paths(r), (std::vector<std::string>{"exactly_max.cpp", "late_nul.txt", "src/a.cpp"}));
  EXPECT_EQ(skipped(r), (std::map<std::string, SkipReason>{
                            {"alias.cpp", SkipReason::kLinkInsideRoot},
                            {"broken.cpp", SkipReason::kLinkOutsideRoot},
                            {"huge.cpp", SkipReason::kTooLarge},
                            {"logo.png", SkipReason::kBinary},
                            {"loop2", SkipReason::kLinkInsideRoot},
                            {"outside", SkipReason::kLinkOutsideRoot},
                            {"pipe", SkipReason::kNotRegular},
                            {"self", SkipReason::kLinkOutsideRoot},
                            {"src/loop", SkipReason::kLinkInsideRoot},
                        }));
}

TEST(RepositoryWalk, TheSizeLimitAndProbeAreConfigurable) {
  TempDir dir;
  dir.write("small.cpp", "int s;\n");
  dir.write("medium.cpp", std::string(100, 'x'));
  dir.write("nul_at_50.txt", std::string(50, 'x') + '\0');
  WalkOptions options;
  options.max_file_bytes = 99;
  options.binary_probe_bytes = 40;
  const WalkResult r = walk(dir.path(), options);
  EXPECT_EQ(paths(r), (std::vector<std::string>{"nul_at_50.txt", "small.cpp"}));
  EXPECT_EQ(skipped(r), (std::map<std::string, SkipReason>{{"medium.cpp", SkipReason::kTooLarge}}));
}

TEST(RepositoryWalk, AMissingRootOrAFileRootIsAnError) {
  TempDir dir;
  const fs::path file = dir.write("f.cpp", "int f;\n");
  auto missing = walk_repository(dir.path() / "nope");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("nope"), std::string::npos) << missing.error().message;
  auto not_dir = walk_repository(file);
  ASSERT_FALSE(not_dir);
  EXPECT_NE(not_dir.error().message.find("not a directory"), std::string::npos);
}

TEST(RepositoryWalk, AnUnreadableFolderIsReportedAndTheRestWalked) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads every folder";
  TempDir dir;
  dir.write("open/a.cpp", "int a;\n");
  dir.write("closed/b.cpp", "int b;\n");
  fs::permissions(dir.path() / "closed", fs::perms::none);
  const WalkResult r = walk(dir.path());
  fs::permissions(dir.path() / "closed", fs::perms::owner_all);
  EXPECT_EQ(paths(r), std::vector<std::string>{"open/a.cpp"});
  EXPECT_EQ(skipped(r), (std::map<std::string, SkipReason>{{"closed", SkipReason::kUnreadable}}));
}

}  // namespace
}  // namespace mnemo::indexer
