#include "model/memory/store/loaded_segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <ATen/ATen.h>

#include "model/memory/store/crc32c.h"

namespace mnemo::model::memory::store {

struct LoadedSegment::Mapping {
  void* base = nullptr;
  std::size_t size = 0;
  Mapping(void* b, std::size_t s) : base(b), size(s) {}
  ~Mapping() { ::munmap(base, size); }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
};

Result<std::shared_ptr<LoadedSegment>, SegmentProblem> LoadedSegment::open(
    const std::filesystem::path& path, std::uint64_t memory_id, const std::set<std::string>& eager,
    bool verify_all) {
  SegmentProblem problem;
  problem.file_name = path.filename().string();
  const auto fail = [&](std::string reason) {
    problem.reason = std::move(reason);
    return problem;
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    return fail("not a regular file");
  }
  const auto size = static_cast<std::size_t>(info.st_size);
  if (size < kSegmentIdentBytes) {
    ::close(fd);
    return fail("truncated: " + std::to_string(size) + " bytes, less than the " +
                std::to_string(kSegmentIdentBytes) + "-byte ident");
  }
  void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);
  if (mapped == MAP_FAILED) return fail(std::string("cannot map: ") + std::strerror(map_errno));

  // The tier reads a token block here and there, wherever top-k lands; the disk's readahead
  // (8 MB on the VM this was measured on) would read megabytes for each of those faults, and
  // opening a cold 5M-token memory read all of its 5 GB to check the small tensors (11-33 s).
  // What is read whole is asked for first (prefetch).
  ::madvise(mapped, size, MADV_RANDOM);
  std::shared_ptr<LoadedSegment> segment(new LoadedSegment());
  segment->mapping_ = std::make_shared<const Mapping>(mapped, size);
  segment->base_ = static_cast<const std::uint8_t*>(mapped);
  segment->size_ = size;
  segment->file_name_ = problem.file_name;
  std::string reason;
  std::optional<SegmentLayout> layout =
      parse_segment(segment->base_, size, memory_id, problem.file_key, reason);
  if (!layout) return fail(std::move(reason));
  segment->layout_ = std::move(*layout);
  const std::size_t n_tensors = segment->layout_.tensors.size();
  segment->verified_ = std::make_unique<std::atomic<std::uint8_t>[]>(n_tensors);
  for (std::size_t i = 0; i < n_tensors; ++i) segment->verified_[i].store(kUnverified);
  std::vector<std::size_t> checked_now;
  for (std::size_t i = 0; i < n_tensors; ++i)
    if (verify_all || eager.count(segment->layout_.tensors[i].name) != 0) checked_now.push_back(i);
  if (auto ok = segment->verify_tensors(checked_now); !ok) return fail(ok.error().message);
  return segment;
}

LoadedSegment::~LoadedSegment() = default;

StoreError LoadedSegment::corrupt_error(const std::string& what) const {
  return StoreError{StoreError::Kind::kCorrupt,
                    "memory segment " + file_name_ + " of '" + key() + "': " + what};
}

void LoadedSegment::prefetch(std::size_t index) const {
  const SegmentTensor& entry = layout_.tensors[index];
  if (entry.n_bytes == 0) return;
  static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  // The kernel reads at most the device's readahead size (or its largest request) per
  // call and drops the rest: asked in pieces below either, the whole range is queued.
  constexpr std::uintptr_t kPiece = 512 * 1024;
  const auto end = reinterpret_cast<std::uintptr_t>(base_ + entry.offset + entry.n_bytes);
  for (auto at = reinterpret_cast<std::uintptr_t>(base_ + entry.offset) & ~(page - 1); at < end;
       at += kPiece) {
    // Advice only: a failure leaves the reads to the page faults.
    ::madvise(reinterpret_cast<void*>(at), std::min(kPiece, end - at), MADV_WILLNEED);
  }
}

Result<void, StoreError> LoadedSegment::verify_tensor(std::size_t index) const {
  const SegmentTensor& entry = layout_.tensors[index];
  const std::uint8_t state = verified_[index].load(std::memory_order_acquire);
  if (state == kGood) return success();
  if (state == kUnverified) {
    // The parser checked offset + n_bytes <= size_.
    const bool good = crc32c(0, base_ + entry.offset, entry.n_bytes) == entry.crc;
    verified_[index].store(good ? kGood : kBad, std::memory_order_release);
    if (good) return success();
    corrupt_.store(true, std::memory_order_release);
  }
  return corrupt_error("tensor '" + entry.name + "' checksum mismatch");
}

Result<at::Tensor, StoreError> LoadedSegment::tensor(const std::string& name) const {
  std::size_t index = 0;
  while (index < layout_.tensors.size() && layout_.tensors[index].name != name) ++index;
  if (index == layout_.tensors.size())
    return StoreError{StoreError::Kind::kInvalidArgument,
                      "memory segment of '" + key() + "' has no tensor '" + name + "'"};
  if (auto ok = verify_tensors({index}); !ok) return ok.error();
  if (corrupt()) return corrupt_error("an earlier check failed; the segment is not used");
  const SegmentTensor& entry = layout_.tensors[index];
  const auto options = at::TensorOptions().dtype(entry.dtype);
  if (entry.n_bytes == 0) return at::empty(entry.shape, options);
  // The deleter holds the mapping: the view keeps the file mapped after the segment goes.
  std::shared_ptr<const Mapping> keep = mapping_;
  return at::from_blob(
      const_cast<std::uint8_t*>(base_ + entry.offset), entry.shape, [keep](void*) {}, options);
}

Result<void, StoreError> LoadedSegment::verify_tensors(
    const std::vector<std::size_t>& indices) const {
  // Every read is queued, in large requests, before the first is waited for.
  for (const std::size_t i : indices)
    if (verified_[i].load(std::memory_order_acquire) == kUnverified) prefetch(i);
  for (const std::size_t i : indices)
    if (auto ok = verify_tensor(i); !ok) return ok.error();
  return success();
}

Result<void, StoreError> LoadedSegment::verify() const {
  std::vector<std::size_t> all(layout_.tensors.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
  return verify_tensors(all);
}

}  // namespace mnemo::model::memory::store
