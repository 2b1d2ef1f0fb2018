#include "lsp/message_framer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mnemo::lsp {
namespace {

using Kind = MessageFramer::Event::Kind;

std::string frame(const std::string& body) {
  return "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

/// Feeds `stream` in chunks of `chunk` bytes and returns the messages ("!" + text for errors).
std::vector<std::string> run(const std::string& stream, std::size_t chunk = 0,
                             std::size_t max_bytes = MessageFramer::kDefaultMaxMessageBytes) {
  MessageFramer framer(max_bytes);
  std::vector<MessageFramer::Event> events;
  if (chunk == 0) chunk = stream.size() + 1;
  for (std::size_t i = 0; i < stream.size(); i += chunk)
    framer.feed(std::string_view(stream).substr(i, chunk), events);
  std::vector<std::string> out;
  for (auto& e : events) out.push_back(e.kind == Kind::kMessage ? e.payload : "!" + e.payload);
  return out;
}

TEST(MessageFramer, SplitsCoalescedMessages) {
  const std::string stream = frame(R"({"a":1})") + frame(R"({"b":2})") + frame("{}");
  EXPECT_EQ(run(stream), (std::vector<std::string>{R"({"a":1})", R"({"b":2})", "{}"}));
}

TEST(MessageFramer, ReassemblesMessagesSplitAtEveryByte) {
  const std::string stream = frame(R"({"text":"héllo 😀"})") + frame(R"({"x":[1,2,3]})");
  for (std::size_t chunk = 1; chunk <= 7; ++chunk) {
    EXPECT_EQ(run(stream, chunk),
              (std::vector<std::string>{R"({"text":"héllo 😀"})", R"({"x":[1,2,3]})"}))
        << "chunk size " << chunk;
  }
}

TEST(MessageFramer, AcceptsContentTypeAndAnyHeaderCaseAndOrder) {
  const std::string body = R"({"ok":true})";
  const std::string stream =
      "Content-Type: application/vscode-jsonrpc; charset=utf-8\r\ncontent-length:" +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  EXPECT_EQ(run(stream), std::vector<std::string>{body});
}

TEST(MessageFramer, ToleratesBareLineFeedsAndStrayBlankLines) {
  const std::string stream = "\r\n\r\nContent-Length: 2\n\n{}" + frame("[]");
  EXPECT_EQ(run(stream), (std::vector<std::string>{"{}", "[]"}));
}

TEST(MessageFramer, EmptyBodyIsAMessage) {
  EXPECT_EQ(run("Content-Length: 0\r\n\r\n" + frame("{}")), (std::vector<std::string>{"", "{}"}));
}

TEST(MessageFramer, MissingContentLengthIsReportedAndTheNextMessageStillArrives) {
  const auto out = run("Content-Type: text/plain\r\n\r\n" + frame("{}"));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_NE(out[0].find("without Content-Length"), std::string::npos) << out[0];
  EXPECT_EQ(out[1], "{}");
}

TEST(MessageFramer, NonNumericContentLengthIsReportedAndResynchronised) {
  const auto out = run("Content-Length: twelve\r\n\r\n{\"junk\":1}" + frame(R"({"good":1})"));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].front(), '!');
  EXPECT_EQ(out[1], R"({"good":1})");
}

TEST(MessageFramer, GarbageBeforeAHeaderIsSkipped) {
  const auto out = run("hello there\r\nthis is not LSP\r\n\r\n" + frame("{}"));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].front(), '!');
  EXPECT_EQ(out[1], "{}");
}

TEST(MessageFramer, OversizedMessageIsSkippedWithoutBufferingIt) {
  const std::string big(5000, 'x');
  MessageFramer framer(/*max_message_bytes=*/1024);
  std::vector<MessageFramer::Event> events;
  framer.feed("Content-Length: 5000\r\n\r\n", events);
  for (int i = 0; i < 5; ++i) framer.feed(big.substr(i * 1000, 1000), events);
  EXPECT_LT(framer.buffered_bytes(), 64u) << "the skipped body must not be held in memory";
  framer.feed(frame(R"({"after":1})"), events);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Kind::kError);
  EXPECT_NE(events[0].payload.find("exceeds"), std::string::npos);
  EXPECT_EQ(events[1].payload, R"({"after":1})");
}

TEST(MessageFramer, HugeContentLengthDoesNotSwallowFollowingMessages) {
  const auto out = run("Content-Length: 99999999999999999\r\n\r\n" + frame(R"({"id":1})"));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].front(), '!');
  EXPECT_EQ(out[1], R"({"id":1})");
}

TEST(MessageFramer, ResyncDoesNotStopAtHeaderTextInsideAJsonString) {
  // An LSP server's own source code quoted inside a message contains header-like text,
  // but never with a raw CR/LF after the digits (JSON escapes them).
  const std::string quoted = R"({"text":"Content-Length: 12\r\n\r\n"})";
  const auto out = run("Bogus\r\n\r\n" + quoted + frame("{}"));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1], "{}");
}

TEST(MessageFramer, OverlongHeaderBlockIsReported) {
  const std::string junk(MessageFramer::kMaxHeaderBytes + 10, 'h');
  const auto out = run(junk + frame("{}"), 512);
  ASSERT_GE(out.size(), 2u);
  EXPECT_EQ(out.front().front(), '!');
  EXPECT_EQ(out.back(), "{}");
}

TEST(MessageFramer, ConflictingContentLengthsAreRejected) {
  const auto out = run("Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}" + frame("[]"));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].front(), '!');
  EXPECT_EQ(out[1], "[]");
}

}  // namespace
}  // namespace mnemo::lsp
