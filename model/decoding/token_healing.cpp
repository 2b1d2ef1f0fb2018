#include "model/decoding/token_healing.h"

#include <string_view>
#include <utility>

namespace mnemo::model {

LogitBias require_text(const TokenIdentifierTable& table, std::string text) {
  return [&table, text = std::move(text)](std::string_view generated,
                                          std::vector<std::pair<TokenId, float>>& add) {
    if (generated.size() >= text.size()) return;
    const std::string_view rest = std::string_view(text).substr(generated.size());
    for (std::size_t id = 0; id < table.n_vocab(); ++id) {
      const std::string_view t = table.text(static_cast<TokenId>(id));
      const bool keeps = !t.empty() && (t.size() <= rest.size() ? rest.substr(0, t.size()) == t
                                                                : t.substr(0, rest.size()) == rest);
      if (!keeps) add.emplace_back(static_cast<TokenId>(id), kRuledOut);
    }
  };
}

LogitBias combine(LogitBias a, LogitBias b) {
  if (!a) return b;
  if (!b) return a;
  return [a = std::move(a), b = std::move(b)](std::string_view generated,
                                              std::vector<std::pair<TokenId, float>>& add) {
    a(generated, add);
    b(generated, add);
  };
}

}  // namespace mnemo::model
