// Tokenizer::from_gguf and Tokenizer::from_tokenizer_json: read a vocabulary file into a
// BpeVocabulary (checking every value's type and range, so a malformed file is an error
// naming the file, never a crash) and hand it to BpeTokenizer::create.
#include <algorithm>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include <nlohmann/json.hpp>

#include "model/gguf_reader.h"
#include "model/tokenizer/bpe_tokenizer.h"
#include "model/tokenizer/pretokenizer.h"

namespace mnemo::model {
namespace {

/// Thrown inside the loaders only; turned into a TokenizerError at the API boundary.
struct LoadFailure {
  std::string message;
};

TokenType token_type_from(std::int64_t value) {
  return value >= 0 && value <= 6 ? static_cast<TokenType>(value) : TokenType::kUndefined;
}

/// Splits a merge written "left right" at its first space after the first byte (as
/// llama.cpp does, so a left side may itself be a space).
std::pair<std::string, std::string> split_merge(const std::string& merge, std::size_t rank) {
  const std::size_t space = merge.find(' ', 1);
  if (space == std::string::npos) {
    throw LoadFailure{"merge " + std::to_string(rank) + " ('" + merge + "') is not 'left right'"};
  }
  return {merge.substr(0, space), merge.substr(space + 1)};
}

// ---------------------------------------------------------------------------------------
// GGUF

class GgufKeys {
 public:
  explicit GgufKeys(const GgufFile& file) : file_(file) {}

  const GgufValue* find(const std::string& key) const { return file_.find(key); }

  std::optional<std::string> string(const std::string& key) const {
    const GgufValue* value = find(key);
    if (value == nullptr) return std::nullopt;
    if (const auto* s = std::get_if<std::string>(&value->value)) return *s;
    throw LoadFailure{key + " is not a string"};
  }

  std::optional<bool> boolean(const std::string& key) const {
    const GgufValue* value = find(key);
    if (value == nullptr) return std::nullopt;
    if (const auto* b = std::get_if<bool>(&value->value)) return *b;
    throw LoadFailure{key + " is not a bool"};
  }

  std::optional<std::int64_t> integer(const std::string& key) const {
    const GgufValue* value = find(key);
    if (value == nullptr) return std::nullopt;
    if (const auto v = as_integer(*value)) return v;
    throw LoadFailure{key + " is not an integer"};
  }

  const GgufArray* array(const std::string& key) const {
    const GgufValue* value = find(key);
    if (value == nullptr) return nullptr;
    if (const auto* a = std::get_if<GgufArray>(&value->value)) return a;
    throw LoadFailure{key + " is not an array"};
  }

  static std::optional<std::int64_t> as_integer(const GgufValue& value) {
    if (const auto* u = std::get_if<std::uint64_t>(&value.value)) {
      if (*u <= static_cast<std::uint64_t>(INT64_MAX)) return static_cast<std::int64_t>(*u);
      return std::nullopt;
    }
    if (const auto* i = std::get_if<std::int64_t>(&value.value)) return *i;
    return std::nullopt;
  }

 private:
  const GgufFile& file_;
};

BpeVocabulary read_gguf(const GgufFile& file) {
  const GgufKeys keys(file);
  const std::optional<std::string> model = keys.string("tokenizer.ggml.model");
  if (!model) throw LoadFailure{"has no tokenizer.ggml.model"};
  if (*model != "gpt2") {
    throw LoadFailure{"tokenizer.ggml.model is '" + *model +
                      "'; only byte-level BPE ('gpt2') is supported"};
  }

  const std::string pre = keys.string("tokenizer.ggml.pre").value_or("");
  std::optional<LlamaCppPreset> preset = llama_cpp_preset(pre);
  if (!preset) throw LoadFailure{"unknown pre-tokenizer tokenizer.ggml.pre = '" + pre + "'"};

  BpeVocabulary vocab;
  const GgufArray* tokens = keys.array("tokenizer.ggml.tokens");
  if (tokens == nullptr) throw LoadFailure{"has no tokenizer.ggml.tokens"};
  vocab.texts.reserve(tokens->size());
  for (std::size_t i = 0; i < tokens->size(); ++i) {
    const auto* text = std::get_if<std::string>(&(*tokens)[i].value);
    if (text == nullptr) {
      throw LoadFailure{"tokenizer.ggml.tokens[" + std::to_string(i) + "] is not a string"};
    }
    // llama.cpp renames empty tokens so that every text is unique.
    vocab.texts.push_back(text->empty() ? "[EMPTY_" + std::to_string(i) + "]" : *text);
  }

  vocab.types.assign(vocab.texts.size(), TokenType::kNormal);
  if (const GgufArray* types = keys.array("tokenizer.ggml.token_type")) {
    if (types->size() < vocab.texts.size()) {
      throw LoadFailure{"tokenizer.ggml.token_type has " + std::to_string(types->size()) +
                        " entries for " + std::to_string(vocab.texts.size()) + " tokens"};
    }
    for (std::size_t i = 0; i < vocab.texts.size(); ++i) {
      const std::optional<std::int64_t> type = GgufKeys::as_integer((*types)[i]);
      if (!type) {
        throw LoadFailure{"tokenizer.ggml.token_type[" + std::to_string(i) + "] is not an integer"};
      }
      vocab.types[i] = token_type_from(*type);
    }
  }

  const GgufArray* merges = keys.array("tokenizer.ggml.merges");
  if (merges == nullptr) throw LoadFailure{"has no tokenizer.ggml.merges"};
  vocab.merges.reserve(merges->size());
  for (std::size_t i = 0; i < merges->size(); ++i) {
    const auto* merge = std::get_if<std::string>(&(*merges)[i].value);
    if (merge == nullptr) {
      throw LoadFailure{"tokenizer.ggml.merges[" + std::to_string(i) + "] is not a string"};
    }
    vocab.merges.push_back(split_merge(*merge, i));
  }

  vocab.pre_regexes = std::move(preset->regexes);
  vocab.ignore_merges = preset->ignore_merges;
  vocab.special.add_bos = keys.boolean("tokenizer.ggml.add_bos_token").value_or(preset->add_bos);

  // In llama.cpp's order: the deprecated prefix/suffix/middle keys come last and win.
  const std::pair<const char*, std::optional<TokenId>*> ids[] = {
      {"tokenizer.ggml.bos_token_id", &vocab.special.bos},
      {"tokenizer.ggml.eos_token_id", &vocab.special.eos},
      {"tokenizer.ggml.eot_token_id", &vocab.special.eot},
      {"tokenizer.ggml.eom_token_id", &vocab.eom},
      {"tokenizer.ggml.fim_pre_token_id", &vocab.special.fim_prefix},
      {"tokenizer.ggml.fim_suf_token_id", &vocab.special.fim_suffix},
      {"tokenizer.ggml.fim_mid_token_id", &vocab.special.fim_middle},
      {"tokenizer.ggml.fim_pad_token_id", &vocab.fim_pad},
      {"tokenizer.ggml.fim_rep_token_id", &vocab.fim_rep},
      {"tokenizer.ggml.fim_sep_token_id", &vocab.fim_sep},
      {"tokenizer.ggml.prefix_token_id", &vocab.special.fim_prefix},
      {"tokenizer.ggml.suffix_token_id", &vocab.special.fim_suffix},
      {"tokenizer.ggml.middle_token_id", &vocab.special.fim_middle},
  };
  for (const auto& [key, id] : ids) {
    const std::optional<std::int64_t> value = keys.integer(key);
    if (!value) continue;
    // Ids outside the vocabulary are ignored (llama.cpp warns and keeps its default).
    if (*value >= 0 && static_cast<std::size_t>(*value) < vocab.texts.size()) {
      *id = static_cast<TokenId>(*value);
    }
  }
  return vocab;
}

// ---------------------------------------------------------------------------------------
// tokenizer.json

using Json = nlohmann::json;

Json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw LoadFailure{"cannot open"};
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    throw LoadFailure{std::string("is not valid JSON: ") + e.what()};
  }
}

/// A bool member, `fallback` when absent or null.
bool flag(const Json& object, const char* key, bool fallback) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) throw LoadFailure{std::string("'") + key + "' is not a bool"};
  return it->get<bool>();
}

std::string escape_regex(const std::string& literal) {
  std::string out;
  for (const char c : literal) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

/// Adds the regexes of one HF pre-tokenizer (recursively for Sequence) to `vocab`.
void read_pre_tokenizer(const Json& node, BpeVocabulary& vocab, bool& byte_level) {
  if (!node.is_object() || !node.contains("type") || !node["type"].is_string()) {
    throw LoadFailure{"pre_tokenizer entry has no type"};
  }
  const std::string type = node["type"].get<std::string>();
  if (type == "Sequence") {
    const auto it = node.find("pretokenizers");
    if (it == node.end() || !it->is_array()) {
      throw LoadFailure{"pre_tokenizer Sequence has no pretokenizers"};
    }
    for (const Json& child : *it) read_pre_tokenizer(child, vocab, byte_level);
  } else if (type == "ByteLevel") {
    byte_level = true;
    if (flag(node, "use_regex", true)) vocab.pre_regexes.emplace_back(kGpt2Regex);
    vocab.add_prefix_space = flag(node, "add_prefix_space", true);
  } else if (type == "Split") {
    const std::string behavior = node.value("behavior", std::string());
    if (behavior != "Isolated" || flag(node, "invert", false)) {
      throw LoadFailure{"pre_tokenizer Split with behavior '" + behavior +
                        "' (or invert) is not supported; only Isolated is"};
    }
    const Json& pattern = node.at("pattern");
    if (pattern.contains("Regex") && pattern["Regex"].is_string()) {
      vocab.pre_regexes.push_back(pattern["Regex"].get<std::string>());
    } else if (pattern.contains("String") && pattern["String"].is_string()) {
      vocab.pre_regexes.push_back(escape_regex(pattern["String"].get<std::string>()));
    } else {
      throw LoadFailure{"pre_tokenizer Split has no Regex or String pattern"};
    }
  } else if (type == "Digits") {
    vocab.pre_regexes.emplace_back(flag(node, "individual_digits", false) ? "\\p{N}" : "\\p{N}+");
  } else {
    throw LoadFailure{"pre_tokenizer type '" + type + "' is not supported"};
  }
}

void check_normalizer(const Json& node) {
  if (node.is_null()) return;
  const std::string type = node.value("type", std::string());
  // NFC is what Qwen2 ships; llama.cpp does not apply it either, and text that is already
  // NFC (nearly all source code) is unchanged by it.
  if (type == "NFC") return;
  if (type == "Sequence") {
    const auto it = node.find("normalizers");
    if (it != node.end() && it->is_array()) {
      for (const Json& child : *it) check_normalizer(child);
      return;
    }
  }
  throw LoadFailure{"normalizer '" + type + "' is not supported"};
}

/// The first template token of a TemplateProcessing post-processor (HF adds it to every
/// encoding with add_special_tokens: Llama 3's BOS), if it has one.
std::optional<std::string> template_bos(const Json& node) {
  if (!node.is_object()) return std::nullopt;
  const std::string type = node.value("type", std::string());
  if (type == "Sequence" && node.contains("processors") && node["processors"].is_array()) {
    for (const Json& child : node["processors"]) {
      if (auto bos = template_bos(child)) return bos;
    }
    return std::nullopt;
  }
  if (type != "TemplateProcessing" || !node.contains("single") || !node["single"].is_array() ||
      node["single"].empty()) {
    return std::nullopt;
  }
  const Json& first = node["single"].front();
  if (!first.is_object() || !first.contains("SpecialToken")) return std::nullopt;
  const Json& special = first["SpecialToken"];
  if (!special.is_object() || !special.contains("id") || !special["id"].is_string()) {
    return std::nullopt;
  }
  return special["id"].get<std::string>();
}

/// A token named in tokenizer_config.json: a string, or an object with "content".
std::optional<std::string> config_token(const Json& config, const char* key) {
  const auto it = config.find(key);
  if (it == config.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return (*it)["content"].get<std::string>();
  }
  return std::nullopt;
}

TokenId json_id(const Json& value, const std::string& what) {
  if (!value.is_number_integer() || value.get<std::int64_t>() < 0 ||
      value.get<std::int64_t>() > std::numeric_limits<TokenId>::max()) {
    throw LoadFailure{what + " has an invalid id"};
  }
  return static_cast<TokenId>(value.get<std::int64_t>());
}

BpeVocabulary read_tokenizer_json(const Json& root) {
  if (!root.is_object()) throw LoadFailure{"is not a JSON object"};
  const auto model_it = root.find("model");
  if (model_it == root.end() || !model_it->is_object()) throw LoadFailure{"has no model"};
  const Json& model = *model_it;
  if (model.contains("type") && model["type"] != "BPE") {
    throw LoadFailure{"model.type is " + model["type"].dump() + "; only BPE is supported"};
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(key) && !model[key].is_null() && model[key] != "") {
      throw LoadFailure{std::string("model.") + key + " is set: not a byte-level BPE"};
    }
  }
  if (flag(model, "byte_fallback", false)) {
    throw LoadFailure{"model.byte_fallback is set: not a byte-level BPE"};
  }
  const auto vocab_it = model.find("vocab");
  if (vocab_it == model.end() || !vocab_it->is_object()) {
    throw LoadFailure{"has no model.vocab object"};
  }

  // Ids come from model.vocab and added_tokens; the vocabulary spans the largest of them.
  std::vector<std::pair<std::string, TokenId>> entries;
  entries.reserve(vocab_it->size());
  TokenId max_id = -1;
  for (const auto& [text, id] : vocab_it->items()) {
    entries.emplace_back(text, json_id(id, "model.vocab['" + text + "']"));
    max_id = std::max(max_id, entries.back().second);
  }
  struct Added {
    std::string text;
    TokenId id;
    bool special, lstrip, rstrip;
  };
  std::vector<Added> added;
  if (const auto it = root.find("added_tokens"); it != root.end() && !it->is_null()) {
    if (!it->is_array()) throw LoadFailure{"added_tokens is not an array"};
    for (const Json& token : *it) {
      if (!token.is_object() || !token.contains("content") || !token["content"].is_string() ||
          !token.contains("id")) {
        throw LoadFailure{"an added_tokens entry has no content or id"};
      }
      const std::string text = token["content"].get<std::string>();
      added.push_back({text, json_id(token["id"], "added token '" + text + "'"),
                       flag(token, "special", false), flag(token, "lstrip", false),
                       flag(token, "rstrip", false)});
      max_id = std::max(max_id, added.back().id);
    }
  }
  if (max_id < 0) throw LoadFailure{"model.vocab is empty"};

  BpeVocabulary vocab;
  const auto n = static_cast<std::size_t>(max_id) + 1;
  vocab.texts.resize(n);
  vocab.types.assign(n, TokenType::kUnused);  // ids nobody names stay empty and unused
  vocab.lstrip.assign(n, 0);
  vocab.rstrip.assign(n, 0);
  for (auto& [text, id] : entries) {
    vocab.texts[static_cast<std::size_t>(id)] = std::move(text);
    vocab.types[static_cast<std::size_t>(id)] = TokenType::kNormal;
  }
  for (const Added& token : added) {
    const auto index = static_cast<std::size_t>(token.id);
    vocab.texts[index] = token.text;
    vocab.types[index] = token.special ? TokenType::kControl : TokenType::kUserDefined;
    vocab.lstrip[index] = token.lstrip;
    vocab.rstrip[index] = token.rstrip;
  }

  if (const auto it = model.find("merges"); it != model.end() && !it->is_null()) {
    if (!it->is_array()) throw LoadFailure{"model.merges is not an array"};
    vocab.merges.reserve(it->size());
    std::size_t rank = 0;
    for (const Json& merge : *it) {
      if (merge.is_string()) {
        vocab.merges.push_back(split_merge(merge.get<std::string>(), rank));
      } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
                 merge[1].is_string()) {
        vocab.merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
      } else {
        throw LoadFailure{"model.merges[" + std::to_string(rank) +
                          "] is neither \"left right\" nor [left, right]"};
      }
      ++rank;
    }
  }
  vocab.ignore_merges = flag(model, "ignore_merges", false);

  check_normalizer(root.value("normalizer", Json()));
  bool byte_level = false;
  const Json pre = root.value("pre_tokenizer", Json());
  if (!pre.is_null()) read_pre_tokenizer(pre, vocab, byte_level);
  if (!byte_level) throw LoadFailure{"has no ByteLevel pre-tokenizer: not a byte-level BPE"};

  if (std::optional<std::string> bos = template_bos(root.value("post_processor", Json()))) {
    vocab.special.add_bos = true;
    for (std::size_t i = 0; i < n; ++i) {
      if (vocab.texts[i] == *bos) vocab.special.bos = static_cast<TokenId>(i);
    }
  }
  return vocab;
}

/// Applies tokenizer_config.json (add_bos_token, bos_token, eos_token, fim_layout) to `vocab`.
void read_tokenizer_config(const Json& config, BpeVocabulary& vocab) {
  if (!config.is_object()) throw LoadFailure{"is not a JSON object"};
  const auto id_of = [&](const std::string& text) -> std::optional<TokenId> {
    for (std::size_t i = 0; i < vocab.texts.size(); ++i) {
      if (vocab.texts[i] == text) return static_cast<TokenId>(i);
    }
    return std::nullopt;
  };
  if (const auto bos = config_token(config, "bos_token")) vocab.special.bos = id_of(*bos);
  if (const auto eos = config_token(config, "eos_token")) vocab.special.eos = id_of(*eos);
  vocab.special.add_bos = flag(config, "add_bos_token", vocab.special.add_bos);
  if (const auto layout = config.find("fim_layout"); layout != config.end()) {
    if (*layout == "psm") {
      vocab.special.fim_layout = FimLayout::kPrefixSuffixMiddle;
    } else if (*layout == "spm") {
      vocab.special.fim_layout = FimLayout::kSuffixPrefixMiddle;
    } else {
      throw LoadFailure{"fim_layout is " + layout->dump() + ", not \"psm\" or \"spm\""};
    }
  }
}

}  // namespace

Result<std::shared_ptr<const Tokenizer>, TokenizerError> Tokenizer::from_gguf(
    const GgufFile& gguf) {
  BpeVocabulary vocab;
  try {
    vocab = read_gguf(gguf);
  } catch (const LoadFailure& e) {
    return TokenizerError{gguf.path() + ": " + e.message};
  } catch (const std::exception& e) {
    return TokenizerError{gguf.path() + ": cannot read the vocabulary: " + e.what()};
  }
  auto tokenizer = BpeTokenizer::create(std::move(vocab), gguf.path());
  if (!tokenizer) return tokenizer.error();
  return std::shared_ptr<const Tokenizer>(std::move(tokenizer).value());
}

Result<std::shared_ptr<const Tokenizer>, TokenizerError> Tokenizer::from_tokenizer_json(
    const std::string& path) {
  std::string current = path;
  BpeVocabulary vocab;
  try {
    vocab = read_tokenizer_json(read_json_file(path));
    const std::string config_path =
        path.substr(0, path.find_last_of('/') + 1) + "tokenizer_config.json";
    if (std::ifstream(config_path).good()) {
      current = config_path;
      read_tokenizer_config(read_json_file(config_path), vocab);
    }
  } catch (const LoadFailure& e) {
    return TokenizerError{current + ": " + e.message};
  } catch (const std::exception& e) {  // nlohmann type errors on unexpected shapes, bad_alloc
    return TokenizerError{current + ": malformed: " + e.what()};
  }
  auto tokenizer = BpeTokenizer::create(std::move(vocab), path);
  if (!tokenizer) return tokenizer.error();
  return std::shared_ptr<const Tokenizer>(std::move(tokenizer).value());
}

}  // namespace mnemo::model
