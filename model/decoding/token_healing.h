// Token healing: a prompt that ends inside a word is cut back to the word's start, and the
// generation must begin by writing the cut bytes again. A model sees "compute_checksum"
// as its tokenizer splits the whole word; a prompt ending in the typed "compute_" ends on
// a token boundary it rarely saw there, and its next token is a poor guess. From the word's
// start it writes the word as it learned it (the technique of Microsoft's guidance library).
#pragma once

#include <string>

#include "model/decoding/generation.h"
#include "model/decoding/identifier_bias.h"

namespace mnemo::model {

/// A bias that keeps a generation on `text` until it has written it: while the generated
/// text is shorter, every token whose bytes leave `text` (they are neither a start of what
/// remains nor begin with all of it) is ruled out, tokens of no bytes (end of text) too.
/// After that it adds nothing. `table` must outlive the returned function.
LogitBias require_text(const TokenIdentifierTable& table, std::string text);

/// Both biases' additions; either may be empty.
LogitBias combine(LogitBias a, LogitBias b);

}  // namespace mnemo::model
