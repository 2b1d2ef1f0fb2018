// The decoding loop: one completion from a prompt, sampled token by token with the stop
// rules, reusing the session's cached prefix of the prompt.
#pragma once

#include "model/decoding/generation.h"
#include "model/language_model.h"
#include "model/result.h"
#include "model/token.h"
#include "model/tokenizer/tokenizer.h"

namespace mnemo::model {

/// Generates one completion of `prompt` (non-empty, at most session.max_tokens() tokens).
/// Calls session.reset_to(prompt) once, so the cache of the prefix the session shares with
/// the prompt is reused, then session.append() of one token per step. The last token
/// sampled is not appended (its logits are never needed), so afterwards the session holds
/// the prompt and all generated tokens but the last. Sampling considers only ids below
/// tokenizer.n_vocab().
///
/// `cancelled` (may be empty) is polled before every forward pass; when it returns true the
/// result is an error for which is_cancelled() holds. Errors of the session are passed on.
/// Runs on the calling thread; request.on_text is called on it.
Result<Generation, ModelError> generate(ModelSession& session, const Tokenizer& tokenizer,
                                        const Tokens& prompt, const GenerationRequest& request,
                                        const CancelCheck& cancelled = {});

}  // namespace mnemo::model
