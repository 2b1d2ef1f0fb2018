#include "model/memory/store/memory_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <system_error>
#include <thread>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "model/memory/memory_log.h"
#include "model/memory/store/crc32c.h"
#include "model/memory/store/segment_format.h"

namespace mnemo::model::memory::store {
namespace fs = std::filesystem;

namespace {

constexpr const char* kHeaderFile = "memory.json";
constexpr const char* kLockFile = "lock";
constexpr const char* kSegmentSuffix = ".seg";
constexpr const char* kTempMarker = ".tmp.";

StoreError io_error(const std::string& what, int error) {
  return StoreError{StoreError::Kind::kIo, what + ": " + std::strerror(error)};
}

bool is_temporary(const std::string& name) {
  return name.find(kTempMarker) != std::string::npos;
}

bool is_segment(const std::string& name) {
  const std::size_t suffix = std::strlen(kSegmentSuffix);
  return name.size() == 16 + suffix && name.compare(16, suffix, kSegmentSuffix) == 0 &&
         std::all_of(name.begin(), name.begin() + 16,
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Result<void, StoreError> write_all(int fd, const void* data, std::size_t n, const fs::path& path) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  while (n > 0) {
    const ssize_t written = ::write(fd, p, n);
    if (written < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot write " + path.string(), errno);
    }
    p += written;
    n -= static_cast<std::size_t>(written);
  }
  return success();
}

Result<void, StoreError> fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open " + dir.string(), errno);
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0) return io_error("cannot fsync " + dir.string(), error);
  return success();
}

/// Writes a file through a temporary beside it, fsync and rename. `write` fills the fd.
template <class Write>
Result<void, StoreError> write_atomically(const fs::path& path, const fs::path& temp, bool durable,
                                          Write&& write) {
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("cannot create " + temp.string(), errno);
  Result<void, StoreError> ok = write(fd);
  if (ok && durable && ::fsync(fd) != 0) ok = io_error("cannot fsync " + temp.string(), errno);
  if (::close(fd) != 0 && ok) ok = io_error("cannot close " + temp.string(), errno);
  if (ok && ::rename(temp.c_str(), path.c_str()) != 0)
    ok = io_error("cannot rename " + temp.string() + " to " + path.string(), errno);
  if (!ok) {
    ::unlink(temp.c_str());
    return ok;
  }
  if (durable) return fsync_dir(path.parent_path());
  return success();
}

fs::path temp_path(const fs::path& path, std::uint64_t& counter) {
  return path.string() + kTempMarker + std::to_string(::getpid()) + "." + std::to_string(counter++);
}

/// The ident of the segment at `path`, read with two small preads; nullopt when the file
/// is missing or its ident is invalid.
std::optional<SegmentIdent> read_ident(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::vector<std::uint8_t> bytes(kSegmentIdentBytes);
  std::optional<SegmentIdent> ident;
  if (::pread(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size())) {
    std::uint32_t key_bytes = 0;
    std::memcpy(&key_bytes, bytes.data() + 12, 4);
    if (key_bytes <= kSegmentMaxKeyBytes) {
      bytes.resize(kSegmentIdentBytes + key_bytes);
      const ssize_t got = ::pread(fd, bytes.data() + kSegmentIdentBytes, key_bytes,
                                  static_cast<off_t>(kSegmentIdentBytes));
      std::string reason;
      if (got == static_cast<ssize_t>(key_bytes))
        ident = parse_segment_ident(bytes.data(), bytes.size(), reason);
    }
  }
  ::close(fd);
  return ident;
}

Result<std::vector<std::string>, StoreError> list_dir(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    names.push_back(it->path().filename().string());
  if (ec)
    return StoreError{StoreError::Kind::kIo, "cannot list " + dir.string() + ": " + ec.message()};
  std::sort(names.begin(), names.end());
  return names;
}

std::string hex64(std::uint64_t v) {
  char buffer[17];
  std::snprintf(buffer, sizeof(buffer), "%016llx", static_cast<unsigned long long>(v));
  return buffer;
}

std::uint64_t random_memory_id() {
  std::random_device device;
  std::uint64_t id = 0;
  while (id == 0) id = (std::uint64_t{device()} << 32) ^ device();
  return id;
}

}  // namespace

std::string MemoryStore::segment_file_name(const std::string& file_key) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a, then a splitmix64 finalizer
  for (const char c : file_key) h = (h ^ static_cast<std::uint8_t>(c)) * 0x100000001b3ull;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  h ^= h >> 31;
  return hex64(h) + kSegmentSuffix;
}

Result<std::unique_ptr<MemoryStore>, StoreError> MemoryStore::lock(const fs::path& dir,
                                                                   StoreOptions options) {
  std::unique_ptr<MemoryStore> store(new MemoryStore());
  store->dir_ = dir;
  store->options_ = options;
  const fs::path lock_path = dir / kLockFile;
  store->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (store->lock_fd_ < 0) return io_error("cannot open " + lock_path.string(), errno);
  if (::flock(store->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      return StoreError{StoreError::Kind::kBusy,
                        dir.string() + ": the memory is open elsewhere (its lock is held)"};
    return io_error("cannot lock " + lock_path.string(), errno);
  }
  std::error_code ec;
  fs::create_directories(store->segments_dir(), ec);
  if (ec)
    return StoreError{StoreError::Kind::kIo,
                      "cannot create " + store->segments_dir().string() + ": " + ec.message()};
  return store;
}

MemoryStore::~MemoryStore() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

Result<std::unique_ptr<MemoryStore>, StoreError> MemoryStore::create(const fs::path& dir,
                                                                     const StringMap& fields,
                                                                     StoreOptions options) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return StoreError{StoreError::Kind::kIo, "cannot create " + dir.string() + ": " + ec.message()};
  auto locked = lock(dir, options);
  if (!locked) return locked.error();
  std::unique_ptr<MemoryStore> store = std::move(locked).value();
  store->fields_ = fields;
  store->memory_id_ = random_memory_id();

  nlohmann::json header = {{"format", kMemoryFormatName},
                           {"format_version", kMemoryFormatVersion},
                           {"memory_id", hex64(store->memory_id_)},
                           {"fields", fields}};
  const std::string text = header.dump(2) + "\n";
  const fs::path header_path = dir / kHeaderFile;
  auto written = write_atomically(
      header_path, temp_path(header_path, store->temp_counter_), options.durable,
      [&](int fd) { return write_all(fd, text.data(), text.size(), header_path); });
  if (!written) return written.error();

  // Old segments now carry a stale memory id; deleting them is tidiness, not correctness.
  auto names = list_dir(store->segments_dir());
  if (!names) return names.error();
  for (const std::string& name : names.value())
    if (::unlink((store->segments_dir() / name).c_str()) != 0 && errno != ENOENT)
      return io_error("cannot delete " + (store->segments_dir() / name).string(), errno);
  if (options.durable)
    if (auto synced = fsync_dir(store->segments_dir()); !synced) return synced.error();
  return store;
}

Result<std::unique_ptr<MemoryStore>, StoreError> MemoryStore::open(const fs::path& dir,
                                                                   const StringMap& expected,
                                                                   StoreOptions options) {
  const fs::path header_path = dir / kHeaderFile;
  std::error_code ec;
  if (!fs::is_regular_file(header_path, ec))
    return StoreError{StoreError::Kind::kNotFound, header_path.string() + ": no memory header"};
  auto locked = lock(dir, options);
  if (!locked) return locked.error();
  std::unique_ptr<MemoryStore> store = std::move(locked).value();

  std::ifstream in(header_path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  const auto corrupt = [&](const std::string& what) {
    return StoreError{StoreError::Kind::kCorrupt, header_path.string() + ": " + what};
  };
  const auto mismatch = [&](const std::string& what) {
    return StoreError{StoreError::Kind::kMismatch, header_path.string() + ": " + what};
  };
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    return corrupt(std::string("not valid JSON: ") + e.what());
  }
  if (!header.is_object() || !header.contains("format") || !header["format"].is_string())
    return corrupt("no \"format\" string");
  if (header["format"] != kMemoryFormatName)
    return mismatch("format '" + header["format"].get<std::string>() + "', expected '" +
                    kMemoryFormatName + "'");
  if (!header.contains("format_version") || !header["format_version"].is_number_unsigned())
    return corrupt("no \"format_version\" number");
  const auto version = header["format_version"].get<std::uint64_t>();
  if (version != kMemoryFormatVersion)
    return mismatch("format version " + std::to_string(version) + ", this build reads version " +
                    std::to_string(kMemoryFormatVersion));
  if (!header.contains("memory_id") || !header["memory_id"].is_string())
    return corrupt("no \"memory_id\" string");
  const std::string id_text = header["memory_id"].get<std::string>();
  char* id_end = nullptr;
  store->memory_id_ = std::strtoull(id_text.c_str(), &id_end, 16);
  if (id_text.size() != 16 || *id_end != '\0' || store->memory_id_ == 0)
    return corrupt("bad memory_id '" + id_text + "'");
  if (!header.contains("fields") || !header["fields"].is_object())
    return corrupt("no \"fields\" object");
  for (const auto& [name, value] : header["fields"].items()) {
    if (!value.is_string()) return corrupt("field '" + name + "' is not a string");
    store->fields_[name] = value.get<std::string>();
  }
  for (const auto& [name, value] : expected) {
    const auto found = store->fields_.find(name);
    if (found == store->fields_.end())
      return mismatch("field '" + name + "' is missing (expected '" + value + "')");
    if (found->second != value)
      return mismatch("field '" + name + "' is '" + found->second + "', expected '" + value + "'");
  }
  for (const auto& [name, value] : store->fields_)
    if (expected.count(name) == 0)
      return mismatch("has field '" + name + "' = '" + value + "' that was not expected");

  std::lock_guard<std::mutex> guard(store->mutex_);
  store->remove_temporaries_locked();
  return store;
}

void MemoryStore::remove_temporaries_locked() const {
  for (const fs::path& folder : {dir_, segments_dir()}) {
    auto names = list_dir(folder);
    if (!names) continue;
    for (const std::string& name : names.value()) {
      if (!is_temporary(name)) continue;
      log::info("memory store: deleting ", name, ", left by an interrupted write");
      ::unlink((folder / name).c_str());
    }
  }
}

Result<void, StoreError> MemoryStore::put(const std::string& file_key,
                                          const std::map<std::string, at::Tensor>& tensors,
                                          const StringMap& metadata) {
  const auto invalid = [&](const std::string& what) {
    return StoreError{StoreError::Kind::kInvalidArgument, "put('" + file_key + "'): " + what};
  };
  if (file_key.empty()) return invalid("empty file key");
  if (file_key.size() > kSegmentMaxKeyBytes) return invalid("file key too long");
  SegmentLayout layout;
  layout.ident.key = file_key;
  layout.ident.memory_id = memory_id_;
  layout.metadata = metadata;
  std::vector<at::Tensor> contiguous;
  for (const auto& [name, tensor] : tensors) {
    if (!tensor.defined()) return invalid("tensor '" + name + "' is undefined");
    if (!tensor.device().is_cpu()) return invalid("tensor '" + name + "' is not on the CPU");
    if (!segment_dtype_code(tensor.scalar_type()))
      return invalid("tensor '" + name + "' has an unsupported dtype");
    if (tensor.dim() > 8) return invalid("tensor '" + name + "' has more than 8 dimensions");
    contiguous.push_back(tensor.contiguous());
    const at::Tensor& t = contiguous.back();
    SegmentTensor entry;
    entry.name = name;
    entry.dtype = t.scalar_type();
    entry.shape.assign(t.sizes().begin(), t.sizes().end());
    entry.n_bytes = t.nbytes();
    entry.crc = entry.n_bytes == 0 ? 0 : crc32c(0, t.data_ptr(), entry.n_bytes);
    layout.tensors.push_back(std::move(entry));
  }
  const std::string head = encode_segment_head(layout);

  std::lock_guard<std::mutex> guard(mutex_);
  const fs::path path = segments_dir() / segment_file_name(file_key);
  if (const auto existing = read_ident(path); existing && existing->key != file_key)
    return StoreError{StoreError::Kind::kCollision, "put('" + file_key + "'): its segment name " +
                                                        path.filename().string() +
                                                        " is taken by '" + existing->key + "'"};
  return write_atomically(path, temp_path(path, temp_counter_), options_.durable, [&](int fd) {
    std::uint64_t position = head.size();
    if (auto ok = write_all(fd, head.data(), head.size(), path); !ok) return ok;
    static const char kZeros[kSegmentDataAlignment] = {};  // padding is < the alignment
    for (std::size_t i = 0; i < layout.tensors.size(); ++i) {
      const SegmentTensor& entry = layout.tensors[i];
      if (entry.n_bytes == 0) continue;
      if (auto ok = write_all(fd, kZeros, entry.offset - position, path); !ok) return ok;
      if (auto ok = write_all(fd, contiguous[i].data_ptr(), entry.n_bytes, path); !ok) return ok;
      position = entry.offset + entry.n_bytes;
    }
    // Trailing empty tensors: the file still ends at the recorded size.
    if (position < layout.ident.file_bytes)
      return write_all(fd, kZeros, layout.ident.file_bytes - position, path);
    return Result<void, StoreError>(success());
  });
}

Result<bool, StoreError> MemoryStore::remove(const std::string& file_key) {
  std::lock_guard<std::mutex> guard(mutex_);
  const fs::path path = segments_dir() / segment_file_name(file_key);
  // A valid ident naming another key is that key's segment (put() refused the collision).
  if (const auto existing = read_ident(path); existing && existing->key != file_key) return false;
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return false;
    return io_error("cannot delete " + path.string(), errno);
  }
  if (options_.durable)
    if (auto synced = fsync_dir(segments_dir()); !synced) return synced.error();
  return true;
}

Result<std::vector<std::string>, StoreError> MemoryStore::keys() const {
  std::lock_guard<std::mutex> guard(mutex_);
  auto names = list_dir(segments_dir());
  if (!names) return names.error();
  std::vector<std::string> keys;
  for (const std::string& name : names.value()) {
    if (!is_segment(name)) continue;
    const auto ident = read_ident(segments_dir() / name);
    if (ident && segment_file_name(ident->key) == name) keys.push_back(ident->key);
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

Result<LoadedMemory, StoreError> MemoryStore::load(const LoadOptions& options) const {
  std::lock_guard<std::mutex> guard(mutex_);
  remove_temporaries_locked();
  auto names = list_dir(segments_dir());
  if (!names) return names.error();
  std::vector<std::string> segment_names;
  for (const std::string& name : names.value()) {
    if (is_segment(name))
      segment_names.push_back(name);
    else if (!is_temporary(name))
      log::debug("memory store: ignoring ", name);
  }
  // Opening is a few system calls per segment (open, fstat, mmap, close) and a page fault
  // for the header: spread over threads, each filling its own part of the results.
  // Automatic: one thread per 256 segments, up to one per hardware thread.
  std::size_t n_threads =
      options.threads != 0
          ? options.threads
          : std::min<std::size_t>(std::max(1u, std::thread::hardware_concurrency()),
                                  segment_names.size() / 256 + 1);
  n_threads =
      std::max<std::size_t>(1, std::min({n_threads, std::size_t{16}, segment_names.size()}));
  std::vector<LoadedMemory> parts(n_threads);
  const auto open_some = [&](std::size_t part) {
    for (std::size_t i = part; i < segment_names.size(); i += n_threads) {
      const std::string& name = segment_names[i];
      auto segment =
          LoadedSegment::open(segments_dir() / name, memory_id_, options.eager, options.verify_all);
      if (!segment) {
        parts[part].problems.push_back(segment.error());
      } else if (segment_file_name(segment.value()->key()) != name) {
        parts[part].problems.push_back(SegmentProblem{
            segment.value()->key(), name, "file name does not follow from its key (moved?)"});
      } else {
        parts[part].segments.push_back(std::move(segment).value());
      }
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t part = 1; part < n_threads; ++part) threads.emplace_back(open_some, part);
  open_some(0);
  for (std::thread& thread : threads) thread.join();
  LoadedMemory memory;
  for (LoadedMemory& part : parts) {
    memory.segments.insert(memory.segments.end(), std::make_move_iterator(part.segments.begin()),
                           std::make_move_iterator(part.segments.end()));
    memory.problems.insert(memory.problems.end(), std::make_move_iterator(part.problems.begin()),
                           std::make_move_iterator(part.problems.end()));
  }
  std::sort(memory.problems.begin(), memory.problems.end(),
            [](const auto& a, const auto& b) { return a.file_name < b.file_name; });
  std::sort(memory.segments.begin(), memory.segments.end(),
            [](const auto& a, const auto& b) { return a->key() < b->key(); });
  for (const SegmentProblem& problem : memory.problems)
    log::warn("memory store: segment ", problem.file_name, " ('", problem.file_key,
              "') refused, to be re-indexed: ", problem.reason);
  return memory;
}

std::vector<SegmentProblem> verify_segments(
    const std::vector<std::shared_ptr<const LoadedSegment>>& segments) {
  std::vector<SegmentProblem> problems;
  for (const auto& segment : segments)
    if (auto ok = segment->verify(); !ok)
      problems.push_back(SegmentProblem{segment->key(), segment->file_name(), ok.error().message});
  return problems;
}

}  // namespace mnemo::model::memory::store
