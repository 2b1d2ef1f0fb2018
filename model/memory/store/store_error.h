// The errors of the memory store: one for a failed call, one for a segment that load()
// refused (the caller re-indexes that file).
#pragma once

#include <string>

namespace mnemo::model::memory::store {

struct StoreError {
  enum class Kind {
    kIo,               ///< a system call failed (message has errno's text)
    kNotFound,         ///< no memory header in the directory
    kMismatch,         ///< the header's format version or caller fields differ from expected
    kCorrupt,          ///< bytes on disk fail a check (checksum, bound, layout)
    kCollision,        ///< two keys hash to one segment name (~1e-11 at 20k files)
    kBusy,             ///< another MemoryStore (any process) holds the directory's lock
    kInvalidArgument,  ///< a caller mistake: empty key, undefined or non-CPU tensor, ...
  };
  Kind kind = Kind::kIo;
  std::string message;
};

/// A segment that is corrupt, partial, of another format version or of another memory.
/// Never used; the caller re-indexes `file_key`.
struct SegmentProblem {
  /// The key the segment names, when its identification block is intact; empty otherwise
  /// (then only a reconciliation of keys() against the repository finds the file).
  std::string file_key;
  std::string file_name;  ///< the segment's file name in segments/
  std::string reason;     ///< one line, e.g. "truncated: 1000 of 4160 bytes"
};

}  // namespace mnemo::model::memory::store
