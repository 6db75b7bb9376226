#include "server/client_text.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace qlinear::server {
namespace {

TEST(ClientTextTest, EscapesControlBytesAndQuotes) {
  EXPECT_EQ(ClientText("plain-name_1.0"), "plain-name_1.0");
  EXPECT_EQ(ClientText("a\nb\r\"c'\\"), "a\\nb\\r\\\"c\\'\\\\");
  EXPECT_EQ(ClientText(std::string("\x01\xff", 2)), "\\x01\\xff");
}

TEST(ClientTextTest, CutsLongStringsWithTheirSize) {
  const std::string whole(kMaxClientStringBytes, 'a');
  EXPECT_EQ(ClientText(whole), whole);
  EXPECT_EQ(ClientText(whole + "b"), whole + "...(257 bytes)");
  EXPECT_EQ(ClientText("abcdef", 3), "abc...(6 bytes)");
}

TEST(ShapeTextTest, PrintsTheFirstDimensions) {
  EXPECT_EQ(ShapeText(std::vector<int64_t>{}), "[]");
  EXPECT_EQ(ShapeText(std::vector<int64_t>{2, 512}), "[2, 512]");
  const std::vector<int64_t> many(200000, 1);
  EXPECT_EQ(ShapeText(many), "[1, 1, 1, 1, 1, 1, 1, 1, ...(200000 dims)]");
}

TEST(TruncateMessageTest, CutsAtACharacterBoundary) {
  EXPECT_EQ(TruncateMessage("short", 10), "short");
  EXPECT_EQ(TruncateMessage("abcdef", 4), "abcd...(6 bytes)");
  // "é" is two bytes: a cut in its middle backs off before it.
  EXPECT_EQ(TruncateMessage("ab\xc3\xa9z", 3), "ab...(5 bytes)");
}

}  // namespace
}  // namespace qlinear::server
