// `mnemo train`: trains mnemo's own model on a corpus folder of projects with the
// memory in the loop (model/training/trainer.h), resuming from OUT/checkpoint.safetensors
// when a run stopped, and exports it to OUT/model (an HF folder `--model` accepts).
#pragma once

#include "model/training/trainer.h"

namespace CLI {
class App;
}

namespace mnemo::server {

CLI::App* add_train_command(CLI::App& app, model::training::TrainOptions& options);

/// 0 when the run ended (planned tokens or its time limit) and the model was exported; 1
/// when the corpus, tokenizer or checkpoint cannot be used.
int run_train(model::training::TrainOptions options);

}  // namespace mnemo::server
