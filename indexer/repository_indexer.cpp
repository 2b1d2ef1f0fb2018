#include "indexer/repository_indexer.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>
#include <thread>
#include <utility>

#include "indexer/clang_symbols.h"
#include "indexer/compile_flags.h"
#include "indexer/content_hash.h"
#include "indexer/member_uses.h"
#include "indexer/parse_order.h"
#include "indexer/parse_worker.h"
#include "indexer/symbol_database.h"

namespace mnemo::indexer {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// The index folder's lock: one indexing process at a time. flock is released by the
/// kernel when the process dies, so a killed run never leaves a stale lock.
class IndexLock {
 public:
  static model::Result<IndexLock, IndexRunError> acquire(const fs::path& dir) {
    const fs::path path = dir / "lock";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return IndexRunError{"cannot open " + path.string() + ": " + std::strerror(errno)};
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      std::string holder(32, '\0');
      const ssize_t n = ::pread(fd, holder.data(), holder.size(), 0);
      holder.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
      ::close(fd);
      return IndexRunError{"another process is indexing into " + dir.string() +
                               (holder.empty() ? "" : " (pid " + holder + ")"),
                           IndexRunError::Kind::kLocked};
    }
    const std::string pid = std::to_string(::getpid());
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
      // The pid is only a hint for the message above; the lock itself holds.
    }
    return IndexLock(fd);
  }
  IndexLock(IndexLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  IndexLock& operator=(IndexLock&&) = delete;
  IndexLock(const IndexLock&) = delete;
  IndexLock& operator=(const IndexLock&) = delete;
  ~IndexLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the flock
  }

 private:
  explicit IndexLock(int fd) : fd_(fd) {}
  int fd_;
};

/// The walk's C-family files.
std::vector<WalkedFile> c_family_files(const WalkResult& walk) {
  std::vector<WalkedFile> files;
  for (const WalkedFile& f : walk.files) {
    if (is_c_family(f.path)) files.push_back(f);
  }
  return files;
}

/// Up to n files parsed at once, each thread with its own parser (a CXIndex, or a parse
/// worker process): the indexing thread hands out files and stores the results, so the
/// symbol database keeps one writer.
class ParsePool {
 public:
  using Parsed = model::Result<UnitSymbols, IndexError>;
  using Parser = std::function<Parsed(const ParseRequest&)>;

  ParsePool(std::size_t n, const std::function<Parser()>& make_parser) {
    for (std::size_t i = 0; i < n; ++i) {
      threads_.emplace_back([this, make_parser] {
        const Parser parse = make_parser();
        for (;;) {
          ParseRequest job;
          {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return closed_ || !jobs_.empty(); });
            if (jobs_.empty()) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
          }
          const auto start = Clock::now();
          Parsed parsed = parse(job);
          const double seconds = seconds_since(start);
          std::lock_guard lock(mutex_);
          results_.push_back(
              {std::move(job.path), job.contents.size(), seconds, std::move(parsed)});
          done_.notify_one();
        }
      });
    }
  }
  ~ParsePool() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : threads_) t.join();
  }
  ParsePool(const ParsePool&) = delete;
  ParsePool& operator=(const ParsePool&) = delete;

  std::size_t size() const { return threads_.size(); }
  std::size_t in_flight() const { return in_flight_; }

  void submit(ParseRequest job) {
    {
      std::lock_guard lock(mutex_);
      jobs_.push_back(std::move(job));
    }
    ++in_flight_;
    wake_.notify_one();
  }

  struct Result {
    std::string path;
    std::size_t bytes = 0;
    double seconds = 0;
    Parsed parsed;
  };
  /// The next finished file (waits for one; call only with in_flight() > 0).
  Result next() {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return !results_.empty(); });
    Result r = std::move(results_.front());
    results_.pop_front();
    --in_flight_;
    return r;
  }

 private:
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::deque<ParseRequest> jobs_;
  std::deque<Result> results_;
  bool closed_ = false;
  std::size_t in_flight_ = 0;  ///< submitted, not yet taken by next(); the caller's thread only
  std::vector<std::thread> threads_;
};

std::string database_message(const DatabaseError& e) {
  return std::string("symbol index: ") + e.message;
}

}  // namespace

fs::path index_dir_of(const IndexOptions& options) {
  return options.index_dir.empty() ? options.root / ".mnemo" : options.index_dir;
}

fs::path symbol_database_path(const fs::path& index_dir) {
  return index_dir / "symbols.sqlite";
}

std::vector<WalkedFile> headers_first(std::vector<WalkedFile> files) {
  std::stable_partition(files.begin(), files.end(),
                        [](const WalkedFile& f) { return has_header_extension(f.path); });
  return files;
}

model::Result<IndexReport, IndexRunError> index_repository(
    const IndexOptions& options, const std::function<void(const IndexProgress&)>& progress,
    const std::atomic<bool>* cancel) {
  const auto start = Clock::now();
  std::error_code ec;
  if (!fs::is_directory(options.root, ec))
    return IndexRunError{"cannot index " + options.root.string() + ": not a directory"};
  const fs::path dir = index_dir_of(options);
  fs::create_directories(dir, ec);
  if (ec) return IndexRunError{"cannot create " + dir.string() + ": " + ec.message()};
  auto lock = IndexLock::acquire(dir);
  if (!lock) return lock.error();

  IndexReport report;
  auto walked = walk_repository(options.root, options.walk);
  if (!walked) return IndexRunError{walked.error().message};
  const WalkResult& walk = walked.value();
  report.in_git = walk.in_git;
  report.files_walked = walk.files.size();
  report.walked = walk.files;
  report.walk_seconds = seconds_since(start);

  auto opened =
      SymbolDatabase::open(symbol_database_path(dir), SymbolDatabase::OpenMode::kReadWrite);
  if (!opened) return IndexRunError{database_message(opened.error())};
  SymbolDatabase& db = *opened.value();
  report.rebuilt = db.rebuilt();

  const std::vector<WalkedFile> files = c_family_files(walk);
  report.files_total = files.size();
  // Forget what is gone first: a rename then never shows both names.
  auto stored = db.files();
  if (!stored) return IndexRunError{database_message(stored.error())};
  std::set<std::string> present;
  for (const WalkedFile& f : files) present.insert(f.path);
  for (const std::string& path : stored.value()) {
    if (present.count(path) != 0) continue;
    if (auto removed = db.remove_file(path); !removed) {
      return IndexRunError{database_message(removed.error())};
    }
    ++report.files_removed;
  }

  std::vector<std::string> walked_paths;
  for (const WalkedFile& f : walk.files) walked_paths.push_back(f.path);
  const auto flags = CompileFlags::for_repository(
      fs::canonical(options.root, ec), include_folders(walked_paths), options.compile_commands_dir);
  ParsePool pool(std::max<std::size_t>(1, options.parse_jobs), [&]() -> ParsePool::Parser {
    if (options.parse_worker.empty()) {
      auto clang = std::make_shared<ClangIndexer>();
      return [clang](const ParseRequest& r) {
        return clang->index(r.root, r.path, r.contents, r.command, r.record_also);
      };
    }
    auto worker = std::make_shared<ParseWorker>(options.parse_worker, options.parse_timeout);
    return [worker](const ParseRequest& r) { return worker->index(r); };
  });
  // What changed, in parse order (parse_order.h); the rest is already current.
  IndexProgress state;
  state.stage = "symbols";
  state.files_total = files.size();
  for (const WalkedFile& f : files) state.bytes_total += f.size;
  // A changed file not yet stored this run, as this pass read it: its member accesses are
  // counted here, from the text already in hand, and stored with the parse's symbols when
  // the parse read the same text (a file changed in between is indexed again next run).
  struct Pending {
    std::uint64_t size = 0;
    std::string content_hash;
    std::vector<MemberUse> member_uses;
  };
  std::map<std::string, Pending> changed;  // by path
  std::vector<std::string> changed_paths;
  std::vector<std::vector<std::string>> changed_includes;
  for (const WalkedFile& f : files) {
    const auto contents = read_file_contents(options.root / f.path);
    if (!contents) {
      report.failed.push_back({f.path, "cannot read it"});
      ++state.files_done;
      continue;
    }
    auto stored_hash = db.content_hash(f.path);
    if (!stored_hash) return IndexRunError{database_message(stored_hash.error())};
    std::string hash = git_blob_id(*contents);
    if (stored_hash.value() == hash) {
      ++report.files_unchanged;
      ++state.files_done;
      state.bytes_done += f.size;
      continue;
    }
    changed.emplace(f.path, Pending{f.size, std::move(hash), member_uses(*contents)});
    changed_paths.push_back(f.path);
    changed_includes.push_back(included_names(*contents));
  }
  const auto report_progress = [&](std::string current) {
    state.current = std::move(current);
    state.seconds = seconds_since(start);
    if (progress) progress(state);
  };
  // Stores one file of a parse's result (and counts it done) once per run.
  std::optional<IndexRunError> fatal;
  const auto store = [&](FileSymbols& f) {
    const auto pending = changed.find(f.path);
    if (pending == changed.end() || fatal) return;
    const auto store_start = Clock::now();
    if (pending->second.content_hash == f.content_hash)
      f.member_uses = std::move(pending->second.member_uses);
    if (auto saved = db.replace_file(f); !saved) {
      fatal = IndexRunError{database_message(saved.error())};
      return;
    }
    report.store_seconds += seconds_since(store_start);
    ++report.files_indexed;
    report.parse_errors += f.parse_errors;
    report.bytes_parsed += pending->second.size;
    ++state.files_done;
    state.bytes_done += pending->second.size;
    changed.erase(pending);
  };
  std::set<std::string> in_flight;  // main files being parsed: each stores itself
  const auto store_next = [&] {
    ParsePool::Result r = pool.next();
    in_flight.erase(r.path);
    report.parse_seconds += r.seconds;
    ++report.units_parsed;
    if (!r.parsed) {
      report.failed.push_back({r.path, r.parsed.error().message});
      if (changed.erase(r.path) != 0) ++state.files_done;
      return;
    }
    store(r.parsed.value().main);
    for (FileSymbols& f : r.parsed.value().included) {
      if (in_flight.count(f.path) == 0) store(f);
    }
    report_progress("");
  };
  for (const std::string& path : parse_order(changed_paths, changed_includes)) {
    if (fatal) break;
    if (changed.count(path) == 0) continue;  // recorded by an earlier parse
    while (pool.in_flight() >= pool.size() && !fatal) store_next();
    if (fatal || changed.count(path) == 0) continue;
    if (cancel != nullptr && cancel->load()) {
      report.cancelled = true;
      break;
    }
    report_progress(path);
    auto contents = read_file_contents(options.root / path);
    if (!contents) {
      report.failed.push_back({path, "cannot read it"});
      changed.erase(path);
      ++state.files_done;
      continue;
    }
    in_flight.insert(path);
    std::vector<std::string> record_also;
    for (const auto& [other, pending] : changed) {
      if (in_flight.count(other) == 0) record_also.push_back(other);
    }
    pool.submit({options.root.string(), path, std::move(*contents), flags->command_for(path),
                 std::move(record_also)});
  }
  while (pool.in_flight() > 0) store_next();  // the files in flight are kept, cancelled or not
  if (fatal) return *fatal;
  state.current.clear();
  state.seconds = seconds_since(start);
  if (progress) progress(state);
  report.total_seconds = seconds_since(start);
  return report;
}

model::Result<IndexStatus, IndexRunError> index_status(const IndexOptions& options) {
  IndexStatus status;
  auto walked = walk_repository(options.root, options.walk);
  if (!walked) return IndexRunError{walked.error().message};
  const std::vector<WalkedFile> files = c_family_files(walked.value());
  status.files_total = files.size();
  const fs::path db_path = symbol_database_path(index_dir_of(options));
  std::error_code ec;
  if (!fs::exists(db_path, ec)) {
    for (const WalkedFile& f : files) status.missing.push_back(f.path);
    return status;
  }
  auto opened = SymbolDatabase::open(db_path, SymbolDatabase::OpenMode::kReadOnly);
  if (!opened) return IndexRunError{database_message(opened.error())};
  SymbolDatabase& db = *opened.value();
  status.exists = true;
  std::set<std::string> present;
  for (const WalkedFile& f : files) {
    present.insert(f.path);
    auto stored = db.content_hash(f.path);
    if (!stored) return IndexRunError{database_message(stored.error())};
    const auto contents = read_file_contents(options.root / f.path);
    if (!stored.value()) {
      status.missing.push_back(f.path);
    } else if (!contents || *stored.value() != git_blob_id(*contents)) {
      status.changed.push_back(f.path);
    } else {
      ++status.files_current;
    }
  }
  auto stored_files = db.files();
  if (!stored_files) return IndexRunError{database_message(stored_files.error())};
  for (const std::string& path : stored_files.value()) {
    if (present.count(path) == 0) status.removed.push_back(path);
  }
  // The newest write, of the database or of its write-ahead log.
  auto newest = fs::last_write_time(db_path, ec);
  const auto wal = fs::last_write_time(fs::path(db_path.string() + "-wal"), ec);
  if (!ec) newest = std::max(newest, wal);
  status.age_seconds =
      std::chrono::duration<double>(fs::file_time_type::clock::now() - newest).count();
  return status;
}

}  // namespace mnemo::indexer
