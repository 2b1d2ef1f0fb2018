// GPU benchmark of the exact memory tier's kernels (not a test): one decoding
// step's memory attention (every memory layer: score every block representative, take the
// top-k blocks per query head, attend exactly over their tokens) with all memory tokens
// resident on the GPU, against the number of memory tokens. Prints one JSON object.
//
//   memory_cuda_bench [--sizes 10000,100000,1000000,5000000] [--dtype fp16|bf16|fp32]
//                     [--heads 4] [--kv-heads 2] [--layers 2] [--dim 64] [--block 64]
//                     [--top-k 8] [--steps 200]
//
// Each kernel is timed with CUDA events (median over steps, after warm-up, on random data)
// and reported as bytes/s against the card's ceiling measured in the same run: a large
// device-to-device copy, counting the bytes read plus the bytes written. A step's "wall"
// time is the host's view (launches plus the wait for the stream), which is what a decode
// step pays when it waits for the memory's answer.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/memory/cuda/block_kernels_cuda.h"

namespace {

namespace kernels = mnemo::model::memory::cuda;
using Clock = std::chrono::steady_clock;

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

cudaStream_t stream() {
  return c10::cuda::getCurrentCUDAStream().stream();
}

/// Times `fn` (which enqueues work on the current stream) with CUDA events: milliseconds.
class EventTimer {
 public:
  EventTimer() {
    check(cudaEventCreate(&start_), "cudaEventCreate");
    check(cudaEventCreate(&stop_), "cudaEventCreate");
  }
  ~EventTimer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;

  template <typename Fn>
  double time(Fn&& fn) {
    check(cudaEventRecord(start_, stream()), "cudaEventRecord");
    fn();
    check(cudaEventRecord(stop_, stream()), "cudaEventRecord");
    check(cudaEventSynchronize(stop_), "cudaEventSynchronize");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start_, stop_), "cudaEventElapsedTime");
    return ms;
  }

 private:
  cudaEvent_t start_{}, stop_{};
};

/// The ceiling: bytes read + written per second by a device-to-device copy of 2 GiB.
double copy_ceiling_gb_per_s(EventTimer& timer) {
  const std::int64_t bytes = std::int64_t{2} << 30;
  const auto options = at::TensorOptions().dtype(at::kByte).device(at::kCUDA);
  at::Tensor src = at::randint(1, 255, {bytes}, options);
  at::Tensor dst = at::empty({bytes}, options);
  std::vector<double> ms;
  for (int i = 0; i < 23; ++i) {
    const double t = timer.time([&] { dst.copy_(src); });
    if (i >= 3) ms.push_back(t);
  }
  return 2.0 * static_cast<double>(bytes) / (median(ms) * 1e6);
}

struct Layer {
  at::Tensor representatives;  ///< [Hkv, B, D]
  at::Tensor keys, values;     ///< [Hkv, B, C, D]
  at::Tensor valid;            ///< [Hkv, B] int32
};

struct Geometry {
  std::int64_t layers = 2, heads = 4, kv_heads = 2, dim = 64, block = 64, top_k = 8;
  at::ScalarType dtype = at::kHalf;
};

/// A memory of `tokens` random tokens per layer, as the block kernels take it. The last
/// block is partial when `tokens` is not a multiple of the block size.
Layer random_layer(const Geometry& g, std::int64_t tokens) {
  const std::int64_t blocks = (tokens + g.block - 1) / g.block;
  const auto options = at::TensorOptions().device(at::kCUDA).dtype(g.dtype);
  Layer layer;
  layer.keys = at::randn({g.kv_heads, blocks, g.block, g.dim}, options);
  layer.values = at::randn({g.kv_heads, blocks, g.block, g.dim}, options);
  layer.representatives = layer.keys.mean(2);
  layer.valid = at::full({g.kv_heads, blocks}, g.block, options.dtype(at::kInt));
  const std::int64_t last = tokens - (blocks - 1) * g.block;
  layer.valid.select(1, blocks - 1).fill_(last);
  return layer;
}

nlohmann::json bench_size(const Geometry& g, std::int64_t tokens, std::int64_t steps,
                          EventTimer& timer, double ceiling) {
  std::vector<Layer> layers;
  for (std::int64_t l = 0; l < g.layers; ++l) layers.push_back(random_layer(g, tokens));
  const std::int64_t blocks = layers[0].representatives.size(1);
  const auto q_options = at::TensorOptions().device(at::kCUDA).dtype(at::kFloat);
  // Fresh queries per step, made before timing.
  std::vector<at::Tensor> queries;
  for (std::int64_t s = 0; s < steps + 5; ++s)
    queries.push_back(at::randn({g.layers, g.heads, g.dim}, q_options) * 0.125);
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");

  std::vector<double> step_ms, wall_ms, score_ms, top_k_ms, attend_ms;
  std::vector<at::Tensor> scores(layers.size()), selected(layers.size());
  for (std::int64_t s = 0; s < steps + 5; ++s) {
    const at::Tensor& q = queries[static_cast<std::size_t>(s)];
    const bool timed = s >= 5;
    // One step as the decoder runs it: the layers back to back, waited for once.
    const auto wall_start = Clock::now();
    const double step = timer.time([&] {
      for (std::size_t l = 0; l < layers.size(); ++l) {
        const at::Tensor ql = q[static_cast<std::int64_t>(l)];
        scores[l] = kernels::score_blocks(ql, layers[l].representatives);
        selected[l] = kernels::top_k_blocks(scores[l], g.top_k);
        kernels::attend_blocks(ql, layers[l].keys, layers[l].values, selected[l], layers[l].valid);
      }
    });
    const double wall =
        std::chrono::duration<double, std::milli>(Clock::now() - wall_start).count();
    // Each kernel alone (layer 0), for the breakdown.
    const at::Tensor q0 = q[0];
    at::Tensor sc, sel;
    const double score =
        timer.time([&] { sc = kernels::score_blocks(q0, layers[0].representatives); });
    const double top_k = timer.time([&] { sel = kernels::top_k_blocks(sc, g.top_k); });
    const double attend = timer.time([&] {
      kernels::attend_blocks(q0, layers[0].keys, layers[0].values, sel, layers[0].valid);
    });
    if (timed) {
      step_ms.push_back(step);
      wall_ms.push_back(wall);
      score_ms.push_back(score);
      top_k_ms.push_back(top_k);
      attend_ms.push_back(attend);
    }
  }
  const double elt = static_cast<double>(at::elementSize(g.dtype));
  const double b = static_cast<double>(blocks);
  // Bytes each kernel must move at least (one layer): the representatives read and the
  // scores written; the scores read; the selected blocks' keys and values read (each query
  // head its own K blocks) and the output written.
  const double score_bytes =
      static_cast<double>(g.kv_heads * g.dim) * b * elt + static_cast<double>(g.heads) * b * 4.0;
  const double top_k_bytes = static_cast<double>(g.heads) * b * 4.0;
  const double attend_bytes =
      static_cast<double>(g.heads * std::min(g.top_k, blocks) * g.block * g.dim * 2) * elt;
  const auto gbps = [](double bytes, double ms) { return bytes / (ms * 1e6); };
  const double score_median = median(score_ms), top_k_median = median(top_k_ms),
               attend_median = median(attend_ms), step_median = median(step_ms);
  const double step_bytes =
      static_cast<double>(g.layers) * (score_bytes + top_k_bytes + attend_bytes);
  std::cerr << "measured " << tokens << " tokens: step " << step_median << " ms (events), "
            << median(wall_ms) << " ms (wall)\n";
  return {{"tokens", tokens},
          {"blocks", blocks},
          {"step_median_ms", step_median},
          {"step_wall_median_ms", median(wall_ms)},
          {"step_gb_per_s", gbps(step_bytes, step_median)},
          {"step_fraction_of_copy_ceiling", gbps(step_bytes, step_median) / ceiling},
          {"per_layer",
           {{"score_ms", score_median},
            {"score_gb_per_s", gbps(score_bytes, score_median)},
            {"score_fraction_of_copy_ceiling", gbps(score_bytes, score_median) / ceiling},
            {"top_k_ms", top_k_median},
            {"top_k_gb_per_s", gbps(top_k_bytes, top_k_median)},
            {"attend_ms", attend_median},
            {"attend_gb_per_s", gbps(attend_bytes, attend_median)}}},
          {"gpu_bytes_per_token",
           static_cast<double>(g.layers) *
               static_cast<double>(layers[0].keys.nbytes() * 2 +
                                   layers[0].representatives.nbytes() + layers[0].valid.nbytes()) /
               static_cast<double>(tokens)}};
}

at::ScalarType parse_dtype(const std::string& s) {
  if (s == "fp16") return at::kHalf;
  if (s == "bf16") return at::kBFloat16;
  if (s == "fp32") return at::kFloat;
  throw std::invalid_argument("--dtype: fp16, bf16 or fp32");
}

}  // namespace

int main(int argc, char** argv) try {
  std::vector<std::int64_t> sizes{10'000, 100'000, 1'000'000, 5'000'000};
  Geometry g;
  std::string dtype = "fp16";
  std::int64_t steps = 200;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--sizes") {
      sizes.clear();
      std::stringstream ss(next());
      for (std::string item; std::getline(ss, item, ',');) sizes.push_back(std::stoll(item));
    } else if (arg == "--dtype") {
      dtype = next();
    } else if (arg == "--heads") {
      g.heads = std::stoll(next());
    } else if (arg == "--kv-heads") {
      g.kv_heads = std::stoll(next());
    } else if (arg == "--layers") {
      g.layers = std::stoll(next());
    } else if (arg == "--dim") {
      g.dim = std::stoll(next());
    } else if (arg == "--block") {
      g.block = std::stoll(next());
    } else if (arg == "--top-k") {
      g.top_k = std::stoll(next());
    } else if (arg == "--steps") {
      steps = std::stoll(next());
    } else {
      throw std::invalid_argument("unknown argument " + arg);
    }
  }
  g.dtype = parse_dtype(dtype);
  if (!at::hasCUDA()) throw std::runtime_error("no CUDA device (or LibTorch without CUDA)");
  at::manual_seed(0);

  cudaDeviceProp props{};
  check(cudaGetDeviceProperties(&props, 0), "cudaGetDeviceProperties");
  EventTimer timer;
  const double ceiling = copy_ceiling_gb_per_s(timer);
  nlohmann::json out;
  out["device"] = {{"name", props.name},
                   {"multiprocessors", props.multiProcessorCount},
                   {"l2_bytes", props.l2CacheSize},
                   {"memory_bytes", props.totalGlobalMem},
                   {"copy_ceiling_gb_per_s", ceiling}};
  out["config"] = {{"layers", g.layers}, {"heads", g.heads},      {"kv_heads", g.kv_heads},
                   {"head_dim", g.dim},  {"block_size", g.block}, {"top_k", g.top_k},
                   {"dtype", dtype},     {"steps", steps}};
  out["results"] = nlohmann::json::array();
  double step_100k = 0;
  for (const std::int64_t tokens : sizes) {
    out["results"].push_back(bench_size(g, tokens, steps, timer, ceiling));
    c10::cuda::getCurrentCUDAStream().synchronize();
    if (tokens == 100'000) step_100k = out["results"].back()["step_median_ms"];
  }
  if (step_100k > 0)
    out["ratio_largest_to_100k"] =
        out["results"].back()["step_median_ms"].get<double>() / step_100k;
  std::cout << out.dump(2) << "\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "memory_cuda_bench: " << e.what() << "\n";
  return 1;
}
