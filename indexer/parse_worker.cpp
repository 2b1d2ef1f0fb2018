#include "indexer/parse_worker.h"

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <istream>
#include <ostream>

#include <nlohmann/json.hpp>

extern char** environ;

namespace mnemo::indexer {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// --- FileSymbols and requests as JSON. Contents travel as raw bytes beside the JSON: a
// source file need not be valid UTF-8, and its bytes decide its hash.

json to_json_range(const SourceRange& r) {
  return {r.start_line, r.start_column, r.end_line, r.end_column};
}

SourceRange range_from(const json& j) {
  return {j.at(0).get<std::uint32_t>(), j.at(1).get<std::uint32_t>(), j.at(2).get<std::uint32_t>(),
          j.at(3).get<std::uint32_t>()};
}

json to_json(const FileSymbols& f) {
  json symbols = json::array(), references = json::array(), includes = json::array();
  for (const Symbol& s : f.symbols) {
    symbols.push_back({s.usr, s.kind, s.name, s.qualified_name, s.signature, s.is_definition,
                       s.parent_usr, to_json_range(s.range), s.line, s.column});
  }
  for (const Reference& r : f.references) references.push_back({r.usr, r.line, r.column});
  for (const Include& i : f.includes) includes.push_back({i.path, i.line, i.resolved});
  return {{"path", f.path},           {"hash", f.content_hash}, {"symbols", symbols},
          {"references", references}, {"includes", includes},   {"errors", f.parse_errors}};
}

FileSymbols file_symbols_from(const json& j) {
  FileSymbols f;
  f.path = j.at("path").get<std::string>();
  f.content_hash = j.at("hash").get<std::string>();
  f.parse_errors = j.at("errors").get<std::uint32_t>();
  for (const json& s : j.at("symbols")) {
    f.symbols.push_back({s.at(0).get<std::string>(), s.at(1).get<std::string>(),
                         s.at(2).get<std::string>(), s.at(3).get<std::string>(),
                         s.at(4).get<std::string>(), s.at(5).get<bool>(),
                         s.at(6).get<std::string>(), range_from(s.at(7)),
                         s.at(8).get<std::uint32_t>(), s.at(9).get<std::uint32_t>()});
  }
  for (const json& r : j.at("references")) {
    f.references.push_back(
        {r.at(0).get<std::string>(), r.at(1).get<std::uint32_t>(), r.at(2).get<std::uint32_t>()});
  }
  for (const json& i : j.at("includes")) {
    f.includes.push_back(
        {i.at(0).get<std::string>(), i.at(1).get<std::uint32_t>(), i.at(2).get<bool>()});
  }
  return f;
}

json to_json(const UnitSymbols& u) {
  json included = json::array();
  for (const FileSymbols& f : u.included) included.push_back(to_json(f));
  return {{"main", to_json(u.main)}, {"included", included}};
}

UnitSymbols unit_symbols_from(const json& j) {
  UnitSymbols u;
  u.main = file_symbols_from(j.at("main"));
  for (const json& f : j.at("included")) u.included.push_back(file_symbols_from(f));
  return u;
}

json to_json(const SemanticCompletions& c) {
  json candidates = json::array();
  for (const SemanticCandidate& s : c.candidates) {
    candidates.push_back(
        {s.name, s.signature, s.result_type, s.brief, static_cast<int>(s.kind), s.priority});
  }
  return {{"candidates", candidates}, {"truncated", c.truncated}};
}

SemanticCompletions completions_from(const json& j) {
  SemanticCompletions c;
  c.truncated = j.at("truncated").get<bool>();
  for (const json& s : j.at("candidates")) {
    const int kind = s.at(4).get<int>();
    if (kind < 0 || kind > static_cast<int>(SemanticCandidate::Kind::kOther))
      throw json::other_error::create(501, "a candidate's kind is out of range", &s);
    c.candidates.push_back({s.at(0).get<std::string>(), s.at(1).get<std::string>(),
                            s.at(2).get<std::string>(), s.at(3).get<std::string>(),
                            static_cast<SemanticCandidate::Kind>(kind), s.at(5).get<unsigned>()});
  }
  return c;
}

std::string dump(const json& j) {
  // Names from a file that is not UTF-8 are replaced rather than refused.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string frame(std::string_view payload) {
  std::string out(8, '\0');
  std::uint64_t n = payload.size();
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>(n >> (8 * i));
  out.append(payload);
  return out;
}

std::uint64_t length_of(const char* bytes) {
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  return n;
}

// --- the worker's side

bool read_frame(std::istream& in, std::string& payload) {
  char header[8];
  if (!in.read(header, 8)) return false;
  payload.resize(length_of(header));
  return static_cast<bool>(in.read(payload.data(), static_cast<std::streamsize>(payload.size())));
}

// --- the parent's side

bool send_all(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

enum class ReadResult { kOk, kClosed, kTimedOut };

/// Reads exactly `n` bytes before `deadline`.
ReadResult receive(int fd, char* out, std::size_t n, Clock::time_point deadline) {
  std::size_t got = 0;
  while (got < n) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return ReadResult::kTimedOut;
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1 << 30)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) return ReadResult::kTimedOut;
    const ssize_t r = ::recv(fd, out + got, n - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return ReadResult::kClosed;
    got += static_cast<std::size_t>(r);
  }
  return ReadResult::kOk;
}

}  // namespace

ParseWorker::ParseWorker(std::vector<std::string> argv, std::chrono::milliseconds timeout)
    : argv_(std::move(argv)), timeout_(timeout) {}

ParseWorker::~ParseWorker() {
  stop();
}

bool ParseWorker::start(std::string& error) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    error = std::string("socketpair: ") + std::strerror(errno);
    return false;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // dup2 clears close-on-exec on the copies: the child keeps its end as stdin and stdout.
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  std::vector<char*> argv;
  for (std::string& a : argv_) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    error = "cannot start the parse worker " + argv_.front() + ": " + std::strerror(rc);
    return false;
  }
  pid_ = pid;
  to_child_ = from_child_ = fds[0];
  ++starts_;
  return true;
}

void ParseWorker::stop() {
  if (pid_ < 0) return;
  ::close(to_child_);  // the worker reads end-of-file and exits
  to_child_ = from_child_ = -1;
  ::kill(pid_, SIGKILL);  // or is stopped, if it hangs
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

model::Result<json, IndexError> ParseWorker::exchange(const json& header, std::string_view contents,
                                                      const std::string& what) {
  std::string error;
  if (pid_ < 0 && !start(error)) return IndexError{what + ": " + error};
  const auto deadline = Clock::now() + timeout_;
  char length[8];
  std::string payload;
  ReadResult result = ReadResult::kClosed;
  if (send_all(to_child_, frame(dump(header)) + frame(contents))) {
    result = receive(from_child_, length, 8, deadline);
    if (result == ReadResult::kOk) {
      payload.resize(length_of(length));
      result = receive(from_child_, payload.data(), payload.size(), deadline);
    }
  }
  if (result != ReadResult::kOk) {
    // Dead or stuck: collect it, say which, and let the next request start a fresh one.
    const pid_t pid = pid_;
    ::close(to_child_);
    to_child_ = from_child_ = -1;
    pid_ = -1;
    if (result == ReadResult::kTimedOut) ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (result == ReadResult::kTimedOut) {
      return IndexError{what + ": libclang ran past the " + std::to_string(timeout_.count()) +
                        " ms timeout; its worker was killed"};
    }
    if (WIFSIGNALED(status)) {
      return IndexError{what + ": libclang crashed its worker (signal " +
                        std::to_string(WTERMSIG(status)) + ", " + strsignal(WTERMSIG(status)) +
                        ")"};
    }
    return IndexError{what + ": the parse worker exited with status " +
                      std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1)};
  }
  try {
    json answer = json::parse(payload);
    if (!answer.at("ok").get<bool>()) return IndexError{answer.at("error").get<std::string>()};
    return answer;
  } catch (const json::exception& e) {
    stop();
    return IndexError{what + ": a malformed answer from the parse worker: " + e.what()};
  }
}

model::Result<UnitSymbols, IndexError> ParseWorker::index(const ParseRequest& request) {
  const json header = {{"kind", "index"},
                       {"root", request.root},
                       {"path", request.path},
                       {"argv", request.command.argv},
                       {"directory", request.command.directory.string()},
                       {"record_also", request.record_also}};
  auto answer = exchange(header, request.contents, request.path);
  if (!answer) return answer.error();
  try {
    return unit_symbols_from(answer.value().at("symbols"));
  } catch (const json::exception& e) {
    stop();
    return IndexError{request.path + ": a malformed answer from the parse worker: " + e.what()};
  }
}

model::Result<SemanticCompletions, IndexError> ParseWorker::complete(
    const SemanticRequest& request) {
  const json header = {
      {"kind", "complete"},           {"file", request.file.string()},
      {"argv", request.command.argv}, {"directory", request.command.directory.string()},
      {"line", request.line},         {"column", request.column},
      {"prefix", request.prefix},     {"max", request.max_candidates}};
  const std::string what = request.file.string();
  auto answer = exchange(header, request.contents, what);
  if (!answer) return answer.error();
  try {
    return completions_from(answer.value().at("completions"));
  } catch (const json::exception& e) {
    stop();
    return IndexError{what + ": a malformed answer from the parse worker: " + e.what()};
  }
}

int run_parse_worker(std::istream& in, std::ostream& out,
                     const std::function<void(const ParseRequest&)>& before_parse) {
  ClangIndexer clang;
  ClangCompleter completer;
  std::string header, contents;
  while (read_frame(in, header) && read_frame(in, contents)) {
    json answer;
    try {
      const json j = json::parse(header);
      if (j.value("kind", "index") == "complete") {
        SemanticRequest request;
        request.file = j.at("file").get<std::string>();
        request.command.argv = j.at("argv").get<std::vector<std::string>>();
        request.command.directory = j.at("directory").get<std::string>();
        request.line = j.at("line").get<unsigned>();
        request.column = j.at("column").get<unsigned>();
        request.prefix = j.at("prefix").get<std::string>();
        request.max_candidates = j.at("max").get<std::size_t>();
        request.contents = std::move(contents);
        auto completions = completer.complete(request);
        if (completions) {
          answer = {{"ok", true}, {"completions", to_json(completions.value())}};
        } else {
          answer = {{"ok", false}, {"error", completions.error().message}};
        }
        out << frame(dump(answer));
        out.flush();
        if (!out) return 1;
        continue;
      }
      ParseRequest request;
      request.root = j.at("root").get<std::string>();
      request.path = j.at("path").get<std::string>();
      request.command.argv = j.at("argv").get<std::vector<std::string>>();
      request.command.directory = j.at("directory").get<std::string>();
      request.record_also = j.at("record_also").get<std::vector<std::string>>();
      request.contents = std::move(contents);
      if (before_parse) before_parse(request);
      auto symbols = clang.index(request.root, request.path, request.contents, request.command,
                                 request.record_also);
      if (symbols) {
        answer = {{"ok", true}, {"symbols", to_json(symbols.value())}};
      } else {
        answer = {{"ok", false}, {"error", symbols.error().message}};
      }
    } catch (const json::exception& e) {
      answer = {{"ok", false}, {"error", std::string("a malformed request: ") + e.what()}};
    }
    out << frame(dump(answer));
    out.flush();
    if (!out) return 1;
  }
  return 0;
}

}  // namespace mnemo::indexer
