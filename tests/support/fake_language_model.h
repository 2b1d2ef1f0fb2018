// Test doubles for decoding: a ModelSession whose logits are a scripted function of the
// token sequence and which records the work each call did, and a Tokenizer whose ids map
// to chosen byte strings. No weights, no LibTorch.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/language_model.h"
#include "model/tokenizer/tokenizer.h"

namespace mnemo::testing {

using model::LogitsView;
using model::ModelError;
using model::Result;
using model::TokenId;
using model::Tokens;

/// Logits as a function of the whole sequence: the rule whose key is the longest suffix of
/// the sequence applies ("after tokens S, the logits are L"); otherwise the default (all
/// equal). A key may be the whole prompt or just the last token.
class ScriptedLogits {
 public:
  explicit ScriptedLogits(std::size_t n_vocab) : n_vocab_(n_vocab) {}

  std::size_t n_vocab() const { return n_vocab_; }

  ScriptedLogits& after(Tokens suffix, std::vector<float> logits) {
    if (logits.size() != n_vocab_) throw std::invalid_argument("ScriptedLogits: wrong size");
    rules_[std::move(suffix)] = std::move(logits);
    return *this;
  }
  /// After `suffix`, token id has probability p for each listed {id, p}; the others have
  /// probability 0 (logit -inf). Logits are log(p), so log-softmax gives back log(p) when
  /// the p sum to 1.
  ScriptedLogits& after_probs(Tokens suffix, std::vector<std::pair<TokenId, double>> probs) {
    return after(std::move(suffix), logits_from_probs(probs));
  }

  std::vector<float> logits_from_probs(const std::vector<std::pair<TokenId, double>>& probs) const {
    std::vector<float> logits(n_vocab_, -std::numeric_limits<float>::infinity());
    for (const auto& [id, p] : probs) logits.at(static_cast<std::size_t>(id)) = std::log(p);
    return logits;
  }

  std::vector<float> logits_for(const Tokens& sequence) const {
    for (std::size_t n = sequence.size(); n > 0; --n) {
      auto rule =
          rules_.find(Tokens(sequence.end() - static_cast<std::ptrdiff_t>(n), sequence.end()));
      if (rule != rules_.end()) return rule->second;
    }
    return std::vector<float>(n_vocab_, 0.0f);
  }

 private:
  std::size_t n_vocab_;
  std::map<Tokens, std::vector<float>> rules_;
};

/// What one session call did.
struct SessionCall {
  enum class Kind { kAppend, kResetTo };
  Kind kind;
  std::size_t processed;  ///< tokens the forward pass computed (not taken from the cache)
  Tokens sequence;        ///< the session's sequence after the call
};

/// Shared by a session and all its forks.
struct SessionLog {
  std::size_t forks = 0;
  std::size_t processed = 0;  ///< over all sessions
  std::size_t forward_calls = 0;
  std::vector<SessionCall> calls;  ///< over all sessions, in order
  /// When set, the forward call with this number (1-based, over all sessions) fails.
  std::optional<std::size_t> fail_on_call;
};

/// Single-threaded. A stale LogitsView (one from before the session's latest call) reads
/// NaN while the previous buffer is kept, so decoding that keeps views too long misbehaves.
class FakeSession : public model::ModelSession {
 public:
  explicit FakeSession(std::shared_ptr<const ScriptedLogits> script,
                       std::size_t max_tokens = 1 << 20,
                       std::shared_ptr<SessionLog> log = std::make_shared<SessionLog>())
      : script_(std::move(script)), max_tokens_(max_tokens), log_(std::move(log)) {}

  const Tokens& tokens() const override { return tokens_; }

  Result<LogitsView, ModelError> append(const Tokens& tokens) override {
    if (tokens.empty()) return ModelError{"FakeSession::append: no tokens"};
    if (tokens_.size() + tokens.size() > max_tokens_) {
      return ModelError{"FakeSession::append: context full"};
    }
    if (auto failure = count_forward()) return *failure;
    tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
    return record(SessionCall::Kind::kAppend, tokens.size());
  }

  Result<LogitsView, ModelError> reset_to(const Tokens& tokens) override {
    if (tokens.empty()) return ModelError{"FakeSession::reset_to: no tokens"};
    if (tokens.size() > max_tokens_) return ModelError{"FakeSession::reset_to: too long"};
    if (auto failure = count_forward()) return *failure;
    std::size_t shared = 0;
    while (shared < tokens.size() && shared < tokens_.size() && tokens[shared] == tokens_[shared]) {
      ++shared;
    }
    shared = std::min(shared, tokens.size() - 1);  // the last token's logits are recomputed
    tokens_ = tokens;
    return record(SessionCall::Kind::kResetTo, tokens.size() - shared);
  }

  void truncate(std::size_t n) override { tokens_.resize(std::min(n, tokens_.size())); }

  std::unique_ptr<model::ModelSession> fork() const override {
    auto copy = std::make_unique<FakeSession>(script_, max_tokens_, log_);
    copy->tokens_ = tokens_;
    ++log_->forks;
    return copy;
  }

  std::size_t n_vocab() const override { return script_->n_vocab(); }
  std::size_t max_tokens() const override { return max_tokens_; }

  /// This session's calls (a fork starts with none).
  const std::vector<SessionCall>& calls() const { return calls_; }
  SessionLog& log() const { return *log_; }

 private:
  std::optional<ModelError> count_forward() {
    ++log_->forward_calls;
    if (log_->fail_on_call && *log_->fail_on_call == log_->forward_calls) {
      return ModelError{"FakeSession: scripted failure"};
    }
    return std::nullopt;
  }

  LogitsView record(SessionCall::Kind kind, std::size_t processed) {
    log_->processed += processed;
    calls_.push_back(SessionCall{kind, processed, tokens_});
    log_->calls.push_back(calls_.back());
    previous_ = std::move(current_);
    std::fill(previous_.begin(), previous_.end(), std::numeric_limits<float>::quiet_NaN());
    current_ = script_->logits_for(tokens_);
    return LogitsView{current_.data(), current_.size()};
  }

  std::shared_ptr<const ScriptedLogits> script_;
  std::size_t max_tokens_;
  std::shared_ptr<SessionLog> log_;
  Tokens tokens_;
  std::vector<SessionCall> calls_;
  std::vector<float> current_;
  std::vector<float> previous_;
};

/// Token id i has the bytes pieces[i]. encode() matches the longest piece at each position
/// (control tokens only with parse_special) and records its arguments. Single-threaded.
class FakeTokenizer : public model::Tokenizer {
 public:
  struct EncodeCall {
    std::string text;
    bool add_special;
    bool parse_special;
  };

  explicit FakeTokenizer(std::vector<std::string> pieces) : pieces_(std::move(pieces)) {}

  /// Marks `id` as a control token (decoded only with render_special).
  FakeTokenizer& set_control(TokenId id) {
    control_.insert(id);
    return *this;
  }
  FakeTokenizer& set_end_of_generation(TokenId id) {
    end_of_generation_.insert(id);
    return *this;
  }
  model::SpecialTokens& mutable_special() { return special_; }
  const std::vector<EncodeCall>& encode_calls() const { return encode_calls_; }

  Tokens encode(std::string_view text, bool add_special, bool parse_special) const override {
    encode_calls_.push_back(EncodeCall{std::string(text), add_special, parse_special});
    Tokens out;
    if (add_special && special_.add_bos && special_.bos) out.push_back(*special_.bos);
    std::size_t at = 0;
    while (at < text.size()) {
      std::optional<TokenId> best;
      for (std::size_t id = 0; id < pieces_.size(); ++id) {
        const std::string& piece = pieces_[id];
        if (piece.empty() || text.compare(at, piece.size(), piece) != 0) continue;
        if (!parse_special && control_.count(static_cast<TokenId>(id)) != 0) continue;
        if (!best || piece.size() > pieces_[static_cast<std::size_t>(*best)].size()) {
          best = static_cast<TokenId>(id);
        }
      }
      if (!best) throw std::invalid_argument("FakeTokenizer: no piece for the text");
      out.push_back(*best);
      at += pieces_[static_cast<std::size_t>(*best)].size();
    }
    return out;
  }

  std::string decode(const Tokens& tokens, bool render_special = false) const override {
    std::string out;
    for (TokenId id : tokens) {
      if (render_special || control_.count(id) == 0) out += token_bytes(id);
    }
    return out;
  }
  std::string token_bytes(TokenId id) const override {
    return pieces_.at(static_cast<std::size_t>(id));
  }
  std::size_t n_vocab() const override { return pieces_.size(); }
  model::TokenType type(TokenId id) const override {
    return control_.count(id) != 0 ? model::TokenType::kControl : model::TokenType::kNormal;
  }
  bool is_end_of_generation(TokenId id) const override { return end_of_generation_.count(id) != 0; }
  const model::SpecialTokens& special() const override { return special_; }
  std::optional<TokenId> find(std::string_view text) const override {
    for (std::size_t id = 0; id < pieces_.size(); ++id) {
      if (pieces_[id] == text) return static_cast<TokenId>(id);
    }
    return std::nullopt;
  }

 private:
  std::vector<std::string> pieces_;
  std::set<TokenId> control_;
  std::set<TokenId> end_of_generation_;
  model::SpecialTokens special_;
  mutable std::vector<EncodeCall> encode_calls_;
};

}  // namespace mnemo::testing
