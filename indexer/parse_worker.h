// libclang in a worker process ("a libclang crash or hang is contained").
//
// libclang's own crash recovery turns many crashes into an error, but not a hang, a stack
// overflow or memory corruption. So the indexer can parse in a child process: ParseWorker
// starts it (an executable that calls run_parse_worker: `mnemo parse-worker`), sends one
// file at a time over a pipe and waits at most the per-file timeout. A worker that dies or
// does not answer in time is killed, the file is reported as failed with the reason, and
// the next file gets a fresh worker. Messages are length-prefixed JSON. The same worker
// answers code completion requests (clang_completion.h).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "indexer/clang_completion.h"
#include "indexer/clang_symbols.h"
#include "indexer/compile_flags.h"
#include "indexer/file_symbols.h"
#include "model/result.h"

namespace mnemo::indexer {

/// One file to parse, as the worker receives it.
struct ParseRequest {
  std::string root;
  std::string path;
  std::string contents;
  CompileCommand command;
  /// The repository's headers to record too, if the parse includes them (clang_symbols.h).
  std::vector<std::string> record_also;
};

class ParseWorker {
 public:
  /// `argv`: the worker's command line (e.g. {"/proc/self/exe", "parse-worker"}).
  ParseWorker(std::vector<std::string> argv, std::chrono::milliseconds timeout);
  ~ParseWorker();
  ParseWorker(const ParseWorker&) = delete;
  ParseWorker& operator=(const ParseWorker&) = delete;

  /// Parses in the worker (starting one if none runs). An IndexError names the file and says
  /// whether libclang failed, crashed the worker or ran past the timeout.
  model::Result<UnitSymbols, IndexError> index(const ParseRequest& request);
  /// Code completion in the worker (clang_completion.h), which keeps the translation units
  /// of the last files it completed in; errors as index()'s.
  model::Result<SemanticCompletions, IndexError> complete(const SemanticRequest& request);

  /// Workers started so far (a crash or timeout costs one).
  int starts() const { return starts_; }

 private:
  bool start(std::string& error);
  void stop();
  /// Sends one request (its JSON header and the file's bytes) and returns the worker's
  /// answer when it says ok; `what` names the file in errors.
  model::Result<nlohmann::json, IndexError> exchange(const nlohmann::json& header,
                                                     std::string_view contents,
                                                     const std::string& what);

  std::vector<std::string> argv_;
  std::chrono::milliseconds timeout_;
  pid_t pid_ = -1;
  int to_child_ = -1, from_child_ = -1;
  int starts_ = 0;
};

/// The worker's side: reads requests from `in` until it closes, answers each on `out`.
/// `before_parse` (tests) runs before each parse. Returns the process exit code.
int run_parse_worker(std::istream& in, std::ostream& out,
                     const std::function<void(const ParseRequest&)>& before_parse = {});

}  // namespace mnemo::indexer
