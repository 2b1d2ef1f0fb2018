#include "lsp/message_framer.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>

namespace mnemo::lsp {
namespace {

constexpr std::string_view kContentLength = "content-length";

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

/// Parses a non-empty run of decimal digits; nullopt on anything else or overflow.
std::optional<std::uint64_t> parse_length(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

/// Finds "Content-Length:[ \t]*<digits>\r?\n" starting at or after `from`. Returns the
/// match position, or npos. `partial_from` receives the earliest position where a match
/// could still begin once more bytes arrive.
std::size_t find_header_start(std::string_view buffer, std::size_t from,
                              std::size_t& partial_from) {
  partial_from = buffer.size();
  for (std::size_t i = from; i < buffer.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(buffer[i])) != 'c') continue;
    std::size_t j = i;
    std::size_t k = 0;
    while (k < kContentLength.size() && j < buffer.size() &&
           std::tolower(static_cast<unsigned char>(buffer[j])) == kContentLength[k]) {
      ++j, ++k;
    }
    if (j == buffer.size()) {  // ran out of bytes while matching: may complete later
      partial_from = std::min(partial_from, i);
      continue;
    }
    if (k < kContentLength.size() || buffer[j] != ':') continue;
    ++j;
    while (j < buffer.size() && (buffer[j] == ' ' || buffer[j] == '\t')) ++j;
    const std::size_t digits = j;
    while (j < buffer.size() && buffer[j] >= '0' && buffer[j] <= '9') ++j;
    if (j == buffer.size() || (buffer[j] == '\r' && j + 1 == buffer.size())) {
      partial_from = std::min(partial_from, i);
      continue;
    }
    if (j == digits) continue;
    if (buffer[j] == '\n' || (buffer[j] == '\r' && buffer[j + 1] == '\n')) return i;
  }
  return std::string_view::npos;
}

}  // namespace

MessageFramer::MessageFramer(std::size_t max_message_bytes)
    : max_message_bytes_(max_message_bytes) {}

void MessageFramer::feed(std::string_view bytes, std::vector<Event>& events) {
  buffer_.append(bytes.data(), bytes.size());
  bool progress = true;
  while (progress) {
    switch (state_) {
      case State::kHeader:
        progress = parse_headers(events);
        break;
      case State::kBody:
        progress = take_body(events);
        break;
      case State::kResync:
        progress = resync();
        break;
    }
  }
}

bool MessageFramer::parse_headers(std::vector<Event>& events) {
  // Stray line breaks between messages are harmless; drop them instead of failing.
  std::size_t start = 0;
  while (start < buffer_.size() && (buffer_[start] == '\r' || buffer_[start] == '\n')) ++start;
  if (start > 0) buffer_.erase(0, start);
  if (buffer_.empty()) return false;

  // The header block ends at the first empty line ("\r\n\r\n"; a bare "\n\n" is tolerated).
  std::size_t end = std::string::npos;
  std::size_t body = 0;
  for (std::size_t i = buffer_.find('\n'); i != std::string::npos; i = buffer_.find('\n', i + 1)) {
    std::size_t next = i + 1;
    if (next < buffer_.size() && buffer_[next] == '\r') ++next;
    if (next < buffer_.size() && buffer_[next] == '\n') {
      end = i;
      body = next + 1;
      break;
    }
  }
  if (end == std::string::npos || end > kMaxHeaderBytes) {
    if (buffer_.size() > kMaxHeaderBytes) {
      fail("header block exceeds " + std::to_string(kMaxHeaderBytes) +
               " bytes without an empty line",
           1, events);
      return true;
    }
    return false;
  }

  std::optional<std::uint64_t> length;
  // On a bad line, resynchronise right after it (a valid header may follow in the same
  // block); on a bad Content-Length, skip the whole block.
  std::string_view block(buffer_.data(), end);
  while (!block.empty()) {
    const std::size_t eol = block.find('\n');
    const std::string_view line = trim(block.substr(0, eol));
    block = eol == std::string_view::npos ? std::string_view() : block.substr(eol + 1);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      const std::size_t after_line =
          block.empty() ? body : static_cast<std::size_t>(block.data() - buffer_.data());
      fail("malformed header line '" + std::string(line.substr(0, 80)) + "'", after_line, events);
      return true;
    }
    const std::string_view name = trim(line.substr(0, colon));
    const std::string_view value = trim(line.substr(colon + 1));
    if (!iequals(name, kContentLength)) continue;  // Content-Type and unknown headers
    const auto parsed = parse_length(value);
    if (!parsed || (length && *length != *parsed)) {
      fail("invalid Content-Length '" + std::string(value.substr(0, 40)) + "'", body, events);
      return true;
    }
    length = parsed;
  }
  if (!length) {
    fail("header block without Content-Length", body, events);
    return true;
  }
  if (*length > max_message_bytes_) {
    fail("message of " + std::to_string(*length) + " bytes exceeds the limit of " +
             std::to_string(max_message_bytes_) + " bytes; skipped",
         body, events);
    return true;
  }
  body_length_ = static_cast<std::size_t>(*length);
  buffer_.erase(0, body);
  state_ = State::kBody;
  return true;
}

bool MessageFramer::take_body(std::vector<Event>& events) {
  if (buffer_.size() < body_length_) return false;
  events.push_back({Event::Kind::kMessage, buffer_.substr(0, body_length_)});
  buffer_.erase(0, body_length_);
  state_ = State::kHeader;
  return true;
}

bool MessageFramer::resync() {
  std::size_t partial = 0;
  const std::size_t found = find_header_start(buffer_, 0, partial);
  if (found != std::string::npos) {
    buffer_.erase(0, found);
    state_ = State::kHeader;
    return true;
  }
  buffer_.erase(0, partial);  // keep only a possible beginning of the next header
  return false;
}

void MessageFramer::fail(std::string error, std::size_t consumed, std::vector<Event>& events) {
  events.push_back({Event::Kind::kError, std::move(error)});
  buffer_.erase(0, std::min(consumed, buffer_.size()));
  state_ = State::kResync;
}

}  // namespace mnemo::lsp
