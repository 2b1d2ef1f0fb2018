#include "model/tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <initializer_list>
#include <utility>

#include "model/tokenizer/byte_unicode.h"

namespace mnemo::model {

const char* const kGpt2Regex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

namespace {

// The regex lists below are copied from llama.cpp's src/llama-vocab.cpp (llm_tokenizer_bpe,
// MIT license), which adapted them from each model's tokenizer.json. llama.cpp runs them with
// hand-written splitters or std::regex on "collapsed" text; PCRE2 with Unicode properties
// gives the same pieces.
const char* const kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kGpt2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const char* const kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kTekken =
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?(("
    "?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]"
    "+|\\s+(?!\\S)|\\s+";
const char* const kGpt4o =
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'"
    "["
    "vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^"
    "A-"
    "Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}"
    "]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kSeedCoder =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kBailingMoe =
    "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+";
std::vector<std::string> deepseek_llm_regexes() {
  // clang-format off
  return {
      "[\r\n]",
      "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
      "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
      "\\s+$",
      "[一-龥ࠀ-一가-퟿]+",
      "\\p{N}+",
  };
  // clang-format on
}

std::vector<std::string> deepseek_coder_regexes() {
  // clang-format off
  return {
      "[\r\n]",
      "\\s?\\p{L}+",
      "\\s?\\p{P}+",
      "[一-龥ࠀ-一가-퟿]+",
      "\\p{N}",
  };
  // clang-format on
}

std::vector<std::string> deepseek_v3_regexes() {
  // clang-format off
  return {
      "\\p{N}{1,3}",
      "[一-龥぀-ゟ゠-ヿ]+",
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
  };
  // clang-format on
}

std::vector<std::string> poro_regexes() {
  // clang-format off
  return {
      " ?[^(\\s|.,!?…。，、।۔،)]+",
  };
  // clang-format on
}

std::vector<std::string> viking_regexes() {
  // clang-format off
  return {
      " ?[^(\\s|.,!?…。，、।۔،)]+",
      "\\p{N}",
  };
  // clang-format on
}

std::vector<std::string> list(std::initializer_list<const char*> regexes) {
  return {regexes.begin(), regexes.end()};
}

bool one_of(std::string_view name, std::initializer_list<std::string_view> names) {
  for (const std::string_view n : names) {
    if (name == n) return true;
  }
  return false;
}

}  // namespace

std::optional<LlamaCppPreset> llama_cpp_preset(std::string_view pre) {
  // Names and flags follow llama_vocab::impl::load (pre_type, ignore_merges, add_bos).
  if (pre.empty() || pre == "default") {
    return LlamaCppPreset{list({"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"}),
                          false, false};
  }
  if (one_of(pre, {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0",
                   "lfm2"})) {
    return LlamaCppPreset{list({kLlama3}), true, true};
  }
  if (one_of(pre, {"dbrx", "smaug-bpe", "chatglm-bpe", "glm4"}))
    return LlamaCppPreset{list({kLlama3})};
  if (pre == "deepseek-llm") return LlamaCppPreset{deepseek_llm_regexes()};
  if (pre == "deepseek-coder") return LlamaCppPreset{deepseek_coder_regexes()};
  if (one_of(pre, {"deepseek-v3", "hunyuan-dense"})) return LlamaCppPreset{deepseek_v3_regexes()};
  if (pre == "falcon") {
    return LlamaCppPreset{list({"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"})};
  }
  if (one_of(pre,
             {"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"})) {
    return LlamaCppPreset{list({"\\p{N}", kGpt2})};
  }
  if (one_of(pre, {"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en", "jina-v2-es",
                   "jina-v2-de", "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais", "trillion",
                   "exaone4", "a.x-4.0", "mellum"})) {
    return LlamaCppPreset{list({kGpt2})};
  }
  if (one_of(pre, {"qwen2", "deepseek-r1-qwen", "megrez", "stablelm2", "hunyuan"})) {
    return LlamaCppPreset{list({kQwen2})};
  }
  if (one_of(pre, {"poro-chat", "bloom", "gpt3-finnish"})) return LlamaCppPreset{poro_regexes()};
  if (pre == "viking") return LlamaCppPreset{viking_regexes()};
  if (pre == "tekken") return LlamaCppPreset{list({kTekken}), true, true};
  if (pre == "chameleon") {
    return LlamaCppPreset{list({"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
                                "([\\t\\n]|    |  )", "\\p{N}", "[\\p{P}!-/:-@\\[-`{-~]", kGpt2}),
                          false, true};
  }
  if (one_of(pre, {"gpt-4o", "llama4"})) return LlamaCppPreset{list({kGpt4o})};
  if (pre == "seed-coder") return LlamaCppPreset{list({kSeedCoder})};
  if (pre == "bailingmoe") return LlamaCppPreset{list({kBailingMoe})};
  return std::nullopt;
}

struct PreTokenizer::Compiled {
  pcre2_code* code = nullptr;
  Compiled() = default;
  Compiled(const Compiled&) = delete;
  Compiled& operator=(const Compiled&) = delete;
  ~Compiled() { pcre2_code_free(code); }
};

Result<PreTokenizer, std::string> PreTokenizer::create(const std::vector<std::string>& regexes) {
  PreTokenizer pre;
  for (const std::string& pattern : regexes) {
    int error = 0;
    PCRE2_SIZE error_offset = 0;
    auto compiled = std::make_shared<Compiled>();
    compiled->code =
        pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                      PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY,
                      &error, &error_offset, nullptr);
    if (compiled->code == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof message);
      return "regex '" + pattern + "' does not compile at offset " + std::to_string(error_offset) +
             ": " + reinterpret_cast<const char*>(message);
    }
    // JIT is an optimisation only: without it pcre2_match interprets the pattern.
    pcre2_jit_compile(compiled->code, PCRE2_JIT_COMPLETE);
    pre.patterns_.push_back(pattern);
    pre.compiled_.push_back(std::move(compiled));
  }
  return pre;
}

namespace {

/// Per-call match state: match data for one pattern, and a large JIT stack made only when
/// the default one overflows (deeply backtracking patterns on long pieces).
class Matcher {
 public:
  explicit Matcher(const pcre2_code* code)
      : code_(code), data_(pcre2_match_data_create_from_pattern(code, nullptr)) {}
  Matcher(const Matcher&) = delete;
  Matcher& operator=(const Matcher&) = delete;
  ~Matcher() {
    pcre2_match_data_free(data_);
    pcre2_match_context_free(context_);
    pcre2_jit_stack_free(jit_stack_);
  }

  /// pcre2_match's result; on success ovector()[0..1] is the match.
  int match(std::string_view subject, std::size_t start, std::uint32_t options) {
    if (data_ == nullptr) return PCRE2_ERROR_NOMEMORY;
    const auto run = [&](std::uint32_t extra) {
      return pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), start,
                         options | extra, data_, context_);
    };
    int rc = run(0);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT && jit_stack_ == nullptr) {
      context_ = pcre2_match_context_create(nullptr);
      jit_stack_ = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, nullptr);
      if (context_ != nullptr && jit_stack_ != nullptr) {
        pcre2_jit_stack_assign(context_, nullptr, jit_stack_);
        rc = run(0);
      }
    }
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) rc = run(PCRE2_NO_JIT);
    return rc;
  }

  const PCRE2_SIZE* ovector() const { return pcre2_get_ovector_pointer(data_); }

 private:
  const pcre2_code* code_;
  pcre2_match_data* data_;
  pcre2_match_context* context_ = nullptr;
  pcre2_jit_stack* jit_stack_ = nullptr;
};

std::size_t char_length_at(std::string_view text, std::size_t pos) {
  const std::optional<Utf8Char> ch = decode_utf8(text, pos);
  return ch ? ch->length : 1;
}

/// Splits `piece` of `text` by one regex into matches and the text between them, like
/// llama.cpp's unicode_regex_split_stl: an empty match only ends the text before it.
void split_piece(Matcher& matcher, std::string_view text, TextPiece piece,
                 std::vector<TextPiece>& out) {
  const std::string_view subject = text.substr(piece.begin, piece.length);
  const auto emit = [&](std::size_t begin, std::size_t end) {
    if (end > begin) out.push_back({piece.begin + begin, end - begin});
  };
  std::size_t pos = 0;
  std::size_t last = 0;  // end of what has been emitted
  while (pos < subject.size()) {
    int rc = matcher.match(subject, pos, 0);
    if (rc < 0) break;  // no further match; an error (match limit) keeps the rest whole
    std::size_t begin = matcher.ovector()[0];
    std::size_t end = matcher.ovector()[1];
    if (end == begin) {
      emit(last, begin);
      last = begin;
      rc = matcher.match(subject, begin, PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED);
      if (rc < 0) {
        pos = begin + char_length_at(subject, begin);
        continue;
      }
      begin = matcher.ovector()[0];
      end = matcher.ovector()[1];
    }
    emit(last, begin);
    emit(begin, end);
    last = pos = end;
  }
  emit(last, subject.size());
}

}  // namespace

void PreTokenizer::split(std::string_view text, std::vector<TextPiece>& pieces) const {
  pieces.clear();
  if (text.empty()) return;
  pieces.push_back({0, text.size()});
  std::vector<TextPiece> next;
  for (const auto& compiled : compiled_) {
    Matcher matcher(compiled->code);
    next.clear();
    next.reserve(pieces.size() * 2);
    for (const TextPiece& piece : pieces) split_piece(matcher, text, piece, next);
    pieces.swap(next);
  }
}

}  // namespace mnemo::model
