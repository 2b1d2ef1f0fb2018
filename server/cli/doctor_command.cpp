#include "server/cli/doctor_command.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <link.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "indexer/libclang_probe.h"
#include "indexer/repository_indexer.h"
#include "indexer/repository_memory.h"
#include "model/blas_core.h"
#include "model/memory/exact/kernel_isa.h"
#include "model/model_loader.h"
#include "server/completer/serve_memory.h"
#include "server/completion/builtin_model.h"
#include "server/completion/completion_settings.h"
#include "server/session/version.h"

namespace fs = std::filesystem;

namespace mnemo::server {
namespace {

/// Below this a matrix product is slow for completion: OpenBLAS reaches 50-170 GFLOP/s on
/// one or two cores of these machines, the reference BLAS about 6.
constexpr double kSlowBlasGflops = 10.0;

enum class Verdict { kOk, kWarn, kFail };

struct Check {
  std::string name;
  Verdict verdict = Verdict::kOk;
  std::string summary;  ///< one line: what was found
  std::string advice;   ///< what to do, when not ok
  std::string detail;   ///< a second line of what was found, when one line is not enough
  nlohmann::json facts = nlohmann::json::object();
};

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::kOk:
      return "ok";
    case Verdict::kWarn:
      return "warn";
    case Verdict::kFail:
      return "FAIL";
  }
  return "?";
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown CPU";
}

Check check_cpu() {
  Check c;
  c.name = "cpu";
  std::vector<std::string> isa;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) isa.push_back("avx2");
  if (__builtin_cpu_supports("fma")) isa.push_back("fma");
  if (__builtin_cpu_supports("f16c")) isa.push_back("f16c");
  if (__builtin_cpu_supports("avx512f")) isa.push_back("avx512f");
  if (__builtin_cpu_supports("avx512vnni")) isa.push_back("avx512vnni");
#endif
  const std::string model_name = cpu_model();
  const auto kernels =
      std::string(model::memory::cpu::kernel_isa_name(model::memory::cpu::kernel_isa()));
  std::ostringstream joined;
  for (std::size_t i = 0; i < isa.size(); ++i) joined << (i ? " " : "") << isa[i];
  c.summary = model_name + ", " + std::to_string(std::thread::hardware_concurrency()) + " cores; " +
              (isa.empty() ? "no AVX2" : joined.str()) + "; the memory's kernels run at " + kernels;
  c.facts = {{"model", model_name},
             {"cores", std::thread::hardware_concurrency()},
             {"instruction_sets", isa},
             {"memory_kernels", kernels}};
  if (model::memory::cpu::kernel_isa() == model::memory::cpu::KernelIsa::kPortable) {
    c.verdict = Verdict::kWarn;
    c.advice =
        "without AVX2 the memory's kernels run scalar code: completion with a large "
        "memory will be several times slower";
  }
  return c;
}

/// The shared libraries loaded whose file name mentions `part`.
std::vector<std::string> loaded_libraries(const std::string& part) {
  struct Search {
    std::string part;
    std::vector<std::string> found;
  } search{part, {}};
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) {
        auto* s = static_cast<Search*>(data);
        const std::string name = info->dlpi_name != nullptr ? info->dlpi_name : "";
        const std::string file = fs::path(name).filename().string();
        if (file.find(s->part) != std::string::npos) {
          std::error_code ec;
          const fs::path real = fs::canonical(name, ec);
          s->found.push_back(ec ? name : real.string());
        }
        return 0;
      },
      &search);
  std::sort(search.found.begin(), search.found.end());
  search.found.erase(std::unique(search.found.begin(), search.found.end()), search.found.end());
  return search.found;
}

Check check_blas() {
  Check c;
  c.name = "blas";
  // A 512 x 512 float product, the best of a few: the shape of a prompt's projections.
  const at::Tensor a = at::rand({512, 512}), b = at::rand({512, 512});
  at::Tensor out = at::mm(a, b);
  double best = 1e9;
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    at::mm_out(out, a, b);
    best = std::min(
        best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  const double gflops = 2.0 * 512 * 512 * 512 / best / 1e9;
  const std::vector<std::string> libraries = loaded_libraries("blas");
  std::ostringstream s;
  s << std::fixed << std::setprecision(1) << gflops << " GFLOP/s on " << at::get_num_threads()
    << (at::get_num_threads() == 1 ? " thread" : " threads");
  s << (libraries.empty() ? ", no BLAS library loaded" : ", " + libraries.front());
  const model::BlasCore core = model::blas_core();
  if (!core.loaded.empty()) s << ", core " << core.loaded;
  c.summary = s.str();
  c.facts = {{"gflops", gflops},
             {"threads", at::get_num_threads()},
             {"libraries", libraries},
             {"core", core.loaded}};
  const bool openblas = std::any_of(libraries.begin(), libraries.end(), [](const std::string& l) {
    return l.find("openblas") != std::string::npos;
  });
  if (!core.better.empty()) {
    c.verdict = Verdict::kWarn;
    c.advice = "OpenBLAS does not know this CPU and multiplies with its generic core " +
               core.loaded + ": set OPENBLAS_CORETYPE=" + core.better +
               " (mnemo names it itself unless OPENBLAS_CORETYPE is set)";
  } else if (!openblas) {
    c.verdict = Verdict::kWarn;
    c.advice =
        "LibTorch multiplies with the reference BLAS, ~30x slower than OpenBLAS: on "
        "Debian install libopenblas0-pthread";
  } else if (gflops < kSlowBlasGflops) {
    c.verdict = Verdict::kWarn;
    c.advice =
        "OpenBLAS is loaded but slow here: the machine is busy, or its cores are "
        "shared; completion will be slower than the figures in docs/benchmarks.md";
  }
  return c;
}

Check check_libclang(const fs::path& root) {
  Check c;
  c.name = "libclang";
  const indexer::LibclangProbe probe = indexer::probe_libclang(root);
  c.facts = {{"version", probe.version},
             {"parsed", probe.parsed},
             {"standard_headers", probe.standard_headers},
             {"errors", probe.errors}};
  if (!probe.parsed) {
    c.verdict = Verdict::kFail;
    c.summary = probe.version + ": could not parse a C++ file";
    c.advice =
        "reinstall libclang (Debian: libclang-14-dev clang-14); the menu falls back to "
        "the workspace's identifiers";
  } else if (!probe.standard_headers) {
    c.verdict = Verdict::kWarn;
    c.summary = probe.version + ": the C++ standard headers are not found (" +
                (probe.errors.empty() ? std::string("?") : probe.errors.front()) + ")";
    c.advice =
        "install a C++ standard library (Debian: libstdc++-12-dev, or clang-14), or "
        "give the workspace a compile_commands.json";
  } else {
    c.summary = probe.version + ", finds the C++ standard headers" +
                (probe.errors.empty() ? "" : " (" + probe.errors.front() + ")");
  }
  return c;
}

Check check_settings(const fs::path& root, CompletionSettings& settings) {
  Check c;
  c.name = "settings";
  std::vector<std::string> problems;
  settings = resolve_settings(root, nlohmann::json(), nlohmann::json(), problems);
  const fs::path file = root / ".mnemo" / "config.json";
  std::error_code ec;
  c.summary = fs::exists(file, ec) ? "from " + file.string() + " over the defaults"
                                   : "the defaults (no " + file.string() + ")";
  c.facts = settings_json(settings);
  c.detail = c.facts.dump();
  c.facts["problems"] = problems;
  if (!problems.empty()) {
    c.verdict = Verdict::kWarn;
    c.summary += "; " + std::to_string(problems.size()) + " skipped: " + problems.front();
    c.advice = "fix the settings named (each skipped setting keeps its default)";
  }
  return c;
}

Check check_model(const CompletionSettings& settings, std::optional<model::LoadedModel>& loaded) {
  Check c;
  c.name = "model";
  if (settings.model.empty()) {
    c.verdict = Verdict::kWarn;
    c.summary = "none: \"model\" is \"\" in the settings, so only the symbols complete";
    c.advice = "remove \"model\": \"\" to use the built-in model";
    return c;
  }
  const auto start = std::chrono::steady_clock::now();
  auto read = model::load_model(settings.model.string());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!read) {
    c.verdict = Verdict::kFail;
    c.summary = read.error().message;
    c.advice = settings.model == builtin_model_dir()
                   ? "the built-in model is missing: reinstall mnemo, or set \"model\""
                   : "point \"model\" at a GGUF file or a Hugging Face folder";
    return c;
  }
  const model::ModelConfig& m = read.value().transformer->config();
  std::ostringstream s;
  s << settings.model.string() << (settings.model == builtin_model_dir() ? " (built in)" : "")
    << ": " << m.n_layer << " layers, d " << m.n_embd << ", vocabulary " << m.n_vocab
    << ", context " << m.n_ctx_train << "; loaded in " << std::fixed << std::setprecision(2)
    << seconds << " s";
  c.summary = s.str();
  c.facts = {{"path", settings.model.string()},
             {"built_in", settings.model == builtin_model_dir()},
             {"layers", m.n_layer},
             {"d", m.n_embd},
             {"vocabulary", m.n_vocab},
             {"context", m.n_ctx_train},
             {"load_seconds", seconds}};
  loaded = std::move(read).value();
  return c;
}

std::uintmax_t folder_bytes(const fs::path& dir) {
  std::uintmax_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) total += it->file_size(size_ec);
  }
  return total;
}

std::string megabytes(std::uintmax_t bytes) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(1) << static_cast<double>(bytes) / (1024.0 * 1024.0)
    << " MB";
  return s.str();
}

Check check_index(const DoctorOptions& o) {
  Check c;
  c.name = "index";
  indexer::IndexOptions options;
  options.root = o.root;
  options.index_dir = o.index_dir;
  auto status = indexer::index_status(options);
  if (!status) {
    c.verdict = Verdict::kFail;
    c.summary = status.error().message;
    c.advice = "run `mnemo index " + o.root + "`";
    return c;
  }
  const indexer::IndexStatus& s = status.value();
  const fs::path dir = indexer::index_dir_of(options);
  c.facts = {{"dir", dir.string()},         {"exists", s.exists},
             {"files", s.files_total},      {"current", s.files_current},
             {"changed", s.changed.size()}, {"missing", s.missing.size()},
             {"removed", s.removed.size()}};
  if (!s.exists) {
    c.verdict = Verdict::kWarn;
    c.summary = "not indexed yet: " + std::to_string(s.files_total) + " C/C++ files";
    c.advice = "run `mnemo index " + o.root + "` (or open the folder with `mnemo serve`)";
    return c;
  }
  const std::uintmax_t bytes =
      folder_bytes(dir / "symbols.sqlite") + folder_bytes(dir / "symbols.sqlite-wal");
  c.facts["bytes"] = bytes;
  c.summary = std::to_string(s.files_current) + "/" + std::to_string(s.files_total) +
              " C/C++ files current in " + (dir / "symbols.sqlite").string() + " (" +
              megabytes(bytes) + ")";
  const std::size_t stale = s.changed.size() + s.missing.size() + s.removed.size();
  if (stale > 0) {
    c.verdict = Verdict::kWarn;
    c.summary += "; " + std::to_string(stale) + " changed, new or gone since";
    c.advice = "run `mnemo index " + o.root + "` (a running `mnemo serve` does it on save)";
  }
  return c;
}

Check check_memory(const DoctorOptions& o, const CompletionSettings& settings,
                   const std::optional<model::LoadedModel>& loaded) {
  Check c;
  c.name = "memory";
  if (!loaded) {
    c.verdict = Verdict::kWarn;
    c.summary = "not checked: no model";
    return c;
  }
  indexer::IndexOptions options;
  options.root = o.root;
  options.index_dir = o.index_dir;
  const fs::path dir = indexer::index_dir_of(options);
  auto memory = indexer::load_repository_memory(loaded->transformer->config(),
                                                memory_model_id(settings.model),
                                                memory_options(settings, dir));
  if (!memory) {
    c.verdict = Verdict::kWarn;
    c.summary = memory.error().message;
    c.advice = "run `mnemo index " + o.root +
               "` (with the same model); until then completion "
               "reads no memory";
    return c;
  }
  const auto stats = memory.value().tier->stats();
  const std::uintmax_t bytes = folder_bytes(dir / "memory");
  std::ostringstream s;
  s << stats.files << " files, " << stats.tokens << " tokens, " << megabytes(bytes) << " on disk, "
    << megabytes(stats.resident_bytes) << " in RAM";
  c.summary = s.str();
  c.facts = {{"files", stats.files},
             {"tokens", stats.tokens},
             {"disk_bytes", bytes},
             {"resident_bytes", stats.resident_bytes},
             {"dropped_files", stats.dropped_files},
             {"failed_checks", memory.value().problems}};
  if (memory.value().problems > 0) {
    c.verdict = Verdict::kWarn;
    c.summary += "; " + std::to_string(memory.value().problems) + " files failed their checks";
    c.advice = "run `mnemo index " + o.root + "` to encode them again";
  } else if (stats.dropped_files > 0) {
    c.verdict = Verdict::kWarn;
    c.summary += "; " + std::to_string(stats.dropped_files) + " files left out by memory.budgetMB";
    c.advice = "raise memory.budgetMB (0: no limit) if RAM allows";
  }
  return c;
}

}  // namespace

CLI::App* add_doctor_command(CLI::App& app, DoctorOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "doctor", "Check this machine and a workspace, and say what is wrong and what to do");
  cmd->add_option("path", o.root, "the workspace (default: the current folder)");
  cmd->add_option("--index-dir", o.index_dir, "where its index is (default: PATH/.mnemo)");
  cmd->add_flag("--json", o.json, "one JSON object instead of lines of text");
  return cmd;
}

int run_doctor(const DoctorOptions& o) {
  const fs::path root = fs::absolute(o.root);
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    std::cerr << "mnemo doctor: " << root.string() << " is not a folder\n";
    return 2;
  }
  CompletionSettings settings;
  std::optional<model::LoadedModel> loaded;
  std::vector<Check> checks;
  checks.push_back(check_cpu());
  checks.push_back(check_blas());
  checks.push_back(check_libclang(root));
  checks.push_back(check_settings(root, settings));
  checks.push_back(check_model(settings, loaded));
  checks.push_back(check_index(o));
  checks.push_back(check_memory(o, settings, loaded));

  const bool failed = std::any_of(checks.begin(), checks.end(),
                                  [](const Check& c) { return c.verdict == Verdict::kFail; });
  if (o.json) {
    nlohmann::json out = {{"version", std::string(kVersion) + " (" + kGitRevision + ")"},
                          {"workspace", root.string()},
                          {"ok", !failed}};
    for (const Check& c : checks) {
      out["checks"][c.name] = {
          {"verdict", to_string(c.verdict)}, {"summary", c.summary}, {"facts", c.facts}};
      if (!c.advice.empty()) out["checks"][c.name]["advice"] = c.advice;
    }
    std::cout << out.dump(2) << std::endl;
  } else {
    std::cout << "mnemo " << kVersion << " (" << kGitRevision << "), workspace " << root.string()
              << "\n";
    for (const Check& c : checks) {
      std::cout << std::left << std::setw(5) << to_string(c.verdict) << std::setw(10) << c.name
                << c.summary << "\n";
      if (!c.detail.empty()) std::cout << std::string(15, ' ') << c.detail << "\n";
      if (!c.advice.empty()) std::cout << std::string(15, ' ') << "-> " << c.advice << "\n";
    }
  }
  return failed ? 1 : 0;
}

}  // namespace mnemo::server
