#include "model/training/training_corpus.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <system_error>

namespace mnemo::model::training {
namespace fs = std::filesystem;

namespace {

bool is_header(const fs::path& path) {
  static const std::vector<std::string> headers{".h",   ".hh",  ".hpp", ".hxx",
                                                ".ipp", ".inl", ".tcc"};
  return std::find(headers.begin(), headers.end(), path.extension().string()) != headers.end();
}

bool is_code(const fs::path& path) {
  static const std::vector<std::string> sources{".c", ".cc", ".cpp", ".cxx"};
  return is_header(path) ||
         std::find(sources.begin(), sources.end(), path.extension().string()) != sources.end();
}

}  // namespace

std::vector<Project> list_projects(const fs::path& root) {
  std::vector<Project> projects;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(root, error)) {
    if (!entry.is_directory()) continue;
    Project p;
    p.name = entry.path().filename().string();
    for (const auto& file : fs::recursive_directory_iterator(entry.path(), error)) {
      if (!file.is_regular_file() || file.is_symlink() || !is_code(file.path())) continue;
      if (file.file_size() > (1u << 20)) continue;
      p.files.push_back(fs::relative(file.path(), entry.path()).generic_string());
    }
    std::sort(p.files.begin(), p.files.end(), [](const std::string& a, const std::string& b) {
      const bool ha = is_header(a), hb = is_header(b);
      return ha != hb ? ha : a < b;
    });
    if (!p.files.empty()) projects.push_back(std::move(p));
  }
  std::sort(projects.begin(), projects.end(),
            [](const Project& a, const Project& b) { return a.name < b.name; });
  return projects;
}

std::optional<FimTokens> fim_tokens(const Tokenizer& tokenizer) {
  const SpecialTokens& s = tokenizer.special();
  if (!s.fim_prefix || !s.fim_suffix || !s.fim_middle || !s.eos) return std::nullopt;
  return FimTokens{*s.fim_prefix, *s.fim_suffix, *s.fim_middle, *s.eos, s.fim_layout};
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

FileTokens text_tokens(const Tokenizer& tokenizer, const std::string& text, TokenId end) {
  FileTokens out;
  if (!text.empty()) out.tokens = tokenizer.encode(text, false, false);
  out.bytes = static_cast<std::int64_t>(text.size());
  out.tokens.push_back(end);
  return out;
}

FileTokens file_tokens(const Tokenizer& tokenizer, const fs::path& path, TokenId end) {
  return text_tokens(tokenizer, read_text(path), end);
}

namespace {

bool starts_name(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_';
}
bool continues_name(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
}

/// Names that are part of the language: renaming them would teach nothing about names.
const std::set<std::string>& reserved_names() {
  static const std::set<std::string> names = [] {
    std::istringstream words(
        "alignas alignof and asm auto bool break case catch char class const consteval "
        "constexpr constinit const_cast continue decltype default define defined delete do "
        "double dynamic_cast elif else endif enum error explicit export extern false float for "
        "friend goto if ifdef ifndef include inline int long mutable namespace new noexcept not "
        "nullptr operator or override pragma private protected public register "
        "reinterpret_cast restrict return short signed sizeof static static_assert static_cast "
        "struct switch template this throw true try typedef typeid typename undef union "
        "unsigned using virtual void volatile warning while _Bool _Static_assert "
        "__attribute__");
    return std::set<std::string>(std::istream_iterator<std::string>(words), {});
  }();
  return names;
}

/// Calls `f(begin, end)` for each name in `text`, in order (a run of letters, digits and
/// `_` that starts with a letter or `_`; digits after a number's start are not names).
template <typename F>
void for_each_name(const std::string& text, F&& f) {
  std::size_t i = 0;
  while (i < text.size()) {
    if (!continues_name(text[i])) {
      ++i;
      continue;
    }
    const std::size_t start = i;
    while (i < text.size() && continues_name(text[i])) ++i;
    if (starts_name(text[start])) f(start, i);
  }
}

}  // namespace

std::string renamed_identifiers(const std::string& text, std::mt19937_64& random, double share) {
  std::map<std::string, int> uses;  // ordered: the draws do not depend on hashing
  for_each_name(text, [&](std::size_t a, std::size_t b) {
    if (b - a >= 3) ++uses[text.substr(a, b - a)];
  });
  std::map<std::string, std::string> renamed;
  for (const auto& [name, n] : uses) {
    if (n < 2 || reserved_names().count(name) != 0) continue;
    if (std::uniform_real_distribution<double>(0, 1)(random) >= share) continue;
    static const char kHex[] = "0123456789abcdef";
    std::string suffix = "_";
    const int digits = std::uniform_int_distribution<int>(4, 8)(random);
    for (int d = 0; d < digits; ++d)
      suffix += kHex[std::uniform_int_distribution<int>(0, 15)(random)];
    renamed[name] = name + suffix;
  }
  if (renamed.empty()) return text;
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  std::size_t copied = 0;
  for_each_name(text, [&](std::size_t a, std::size_t b) {
    const auto it = renamed.find(text.substr(a, b - a));
    if (it == renamed.end()) return;
    out.append(text, copied, a - copied);
    out += it->second;
    copied = b;
  });
  out.append(text, copied, std::string::npos);
  return out;
}

std::vector<Window> plain_windows(const Tokens& tokens, std::int64_t length, TokenId pad) {
  std::vector<Window> out;
  const auto n = static_cast<std::int64_t>(tokens.size());
  for (std::int64_t start = 0; start + 1 < n; start += length) {
    Window w;
    const std::int64_t end = std::min(n, start + length + 1);
    w.tokens.assign(tokens.begin() + start, tokens.begin() + end);
    w.valid = static_cast<std::int64_t>(w.tokens.size()) - 1;
    w.tokens.resize(static_cast<std::size_t>(length + 1), pad);
    out.push_back(std::move(w));
  }
  return out;
}

Window fim_window(const Window& source, std::int64_t length, const FimTokens& fim, std::int64_t a,
                  std::int64_t b, TokenId pad) {
  // The source's real tokens (its valid targets and the first input), at most length - 3.
  const std::int64_t real = std::min(source.valid + 1, length - 3);
  a = std::clamp<std::int64_t>(a, 0, real);
  b = std::clamp<std::int64_t>(b, a, real);
  const auto at = [&](std::int64_t i) { return source.tokens.begin() + i; };
  Window w;
  append_fim(w.tokens, fim.layout, fim.prefix, fim.suffix, fim.middle, at(0), at(a), at(b),
             at(real));
  w.tokens.insert(w.tokens.end(), at(a), at(b));
  w.tokens.push_back(fim.end);
  w.valid = static_cast<std::int64_t>(w.tokens.size()) - 1;
  w.tokens.resize(static_cast<std::size_t>(length + 1), pad);
  return w;
}

Window repeated_window(const Window& source, std::int64_t length, TokenId pad) {
  const std::int64_t half = std::min((source.valid + 2) / 2, (length + 1) / 2);
  Window w;
  w.tokens.assign(source.tokens.begin(), source.tokens.begin() + half);
  w.tokens.insert(w.tokens.end(), source.tokens.begin(), source.tokens.begin() + half);
  w.valid = static_cast<std::int64_t>(w.tokens.size()) - 1;
  w.tokens.resize(static_cast<std::size_t>(length + 1), pad);
  return w;
}

Window random_repeated_window(std::mt19937_64& random, std::int64_t length, std::int64_t vocab,
                              const std::vector<TokenId>& special, double scale,
                              std::int64_t alphabet) {
  const std::int64_t first = std::min<std::int64_t>(vocab, 4096);
  std::uniform_int_distribution<std::int64_t> id(0, first - 1);
  Tokens letters;  // a small alphabet's ids; empty: any of the first ones
  if (alphabet < first) {
    for (TokenId t = 0; t < static_cast<TokenId>(first); ++t)
      if (std::find(special.begin(), special.end(), t) == special.end()) letters.push_back(t);
    std::shuffle(letters.begin(), letters.end(), random);
    letters.resize(static_cast<std::size_t>(
        std::clamp<std::int64_t>(alphabet, 2, static_cast<std::int64_t>(letters.size()))));
  }
  std::uniform_int_distribution<std::size_t> letter(0, letters.empty() ? 0 : letters.size() - 1);
  const auto draw = [&](std::int64_t n) {
    Tokens out(static_cast<std::size_t>(n));
    for (TokenId& t : out) {
      if (!letters.empty()) {
        t = letters[letter(random)];
        continue;
      }
      do {
        t = static_cast<TokenId>(id(random));
      } while (std::find(special.begin(), special.end(), t) != special.end());
    }
    return out;
  };
  const auto scaled = [&](double n) {
    return std::max<std::int64_t>(4, static_cast<std::int64_t>(std::lround(n * scale)));
  };
  const Tokens span =
      draw(std::uniform_int_distribution<std::int64_t>(scaled(16), scaled(128))(random));
  std::uniform_int_distribution<std::int64_t> gap(
      0, static_cast<std::int64_t>(std::lround(64 * scale)));
  Window w;
  while (static_cast<std::int64_t>(w.tokens.size()) <= length) {
    const Tokens filler = draw(gap(random));
    w.tokens.insert(w.tokens.end(), filler.begin(), filler.end());
    w.tokens.insert(w.tokens.end(), span.begin(), span.end());
  }
  w.tokens.resize(static_cast<std::size_t>(length + 1));
  w.valid = length;
  return w;
}

Window inserted_copy_window(const Window& source, std::mt19937_64& random, std::int64_t length,
                            TokenId pad) {
  const std::int64_t real = source.valid + 1;
  if (real < 6) return source;
  const auto uniform = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(random);
  };
  const std::int64_t most = std::min<std::int64_t>(128, real / 3);
  const std::int64_t n = uniform(std::min<std::int64_t>(16, most), most);
  const std::int64_t at = uniform(n, real - 1);  // where the copy goes, after its original
  const std::int64_t from = uniform(0, at - n);
  const auto begin = source.tokens.begin();
  Window w;
  w.tokens.assign(begin, begin + at);
  w.tokens.insert(w.tokens.end(), begin + from, begin + from + n);
  w.tokens.insert(w.tokens.end(), begin + at, begin + real);
  w.tokens.resize(std::min<std::size_t>(w.tokens.size(), static_cast<std::size_t>(length + 1)));
  w.valid = static_cast<std::int64_t>(w.tokens.size()) - 1;
  w.tokens.resize(static_cast<std::size_t>(length + 1), pad);
  return w;
}

}  // namespace mnemo::model::training
