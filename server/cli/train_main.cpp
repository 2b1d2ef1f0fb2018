// `mnemo-train`: `mnemo train` alone, in the build that has no libclang, SQLite or Asio
// (MNEMO_TRAINING_ONLY), so that a GPU machine with PyTorch's CUDA LibTorch and no package
// registry can train mnemo's model (scripts/gpu-train.sh). Its arguments are `mnemo train`'s.
#include <string>

#include <CLI/CLI.hpp>

#include "model/blas_core.h"
#include "server/cli/train_command.h"

int main(int argc, char** argv) {
  mnemo::model::rerun_with_better_blas_core(argv);
  CLI::App app{"mnemo-train: `mnemo train` without the rest of mnemo"};
  mnemo::model::training::TrainOptions options;
  CLI::App* train = mnemo::server::add_train_command(app, options);
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);
  return *train ? mnemo::server::run_train(options) : 2;
}
