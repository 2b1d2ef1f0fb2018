// `mnemo bench index PATH`: the indexer's throughput on a real tree ,
// split into its stages, as one JSON object: the walk and content hashing (MB/s), libclang
// and the symbol index (files/s, MB/s), the model forward and memory writes (tokens/s) with
// --model, and re-opening what was indexed (a second run that finds everything current; the
// memory loaded back as the server would). Indexes into a temporary folder that it deletes.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace mnemo::server {

struct IndexBenchmarkOptions {
  std::string root;
  std::string model;     ///< empty: symbols only
  std::size_t jobs = 0;  ///< parse jobs; 0: one per hardware thread
  std::size_t window = 1024;
  bool keep = false;  ///< keep the temporary index (its path is in the output)
};

/// Throws std::runtime_error when a stage fails.
nlohmann::json run_index_benchmark(const IndexBenchmarkOptions& options);

/// `mnemo bench reopen PATH`: re-opening the memory of an index that `mnemo index --model`
/// made, as a later `mnemo serve` meets it, with the page cache as it is or, with
/// drop_caches (root only), emptied first: a session after a reboot.
struct ReopenBenchmarkOptions {
  std::string root;
  std::string index_dir;  ///< empty: <root>/.mnemo
  std::string model;
  std::size_t window = 1024;
  bool drop_caches = false;
};

nlohmann::json run_reopen_benchmark(const ReopenBenchmarkOptions& options);

}  // namespace mnemo::server
