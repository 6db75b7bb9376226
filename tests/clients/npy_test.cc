// The minimal .npy reader and writer of the clients.
#include "clients/common/npy.h"

#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qlinear::clients {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A .npy file with the given header dict (padded as numpy does) and data.
std::string Npy(int major, const std::string& dict, const std::string& data) {
  std::string header = dict;
  const size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(major);
  out += '\0';
  const size_t n = header.size();
  out += static_cast<char>(n & 0xff);
  out += static_cast<char>((n >> 8) & 0xff);
  if (major != 1) out += std::string(2, '\0');
  return out + header + data;
}

TEST(NpyTest, RoundTripFloat32) {
  const std::vector<float> values = {1.0f, -2.5f, 3.25f, 0.0f, 7.0f, -1.0f};
  const std::string bytes = MakeNpyFloat32({2, 3}, values);
  EXPECT_EQ((bytes.size() - values.size() * 4) % 64, 0u);
  absl::StatusOr<NpyArray> a = ParseNpy(bytes);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->descr, "<f4");
  EXPECT_THAT(a->shape, ElementsAre(2, 3));
  ASSERT_EQ(a->data.size(), 24u);
  std::vector<float> back(6);
  std::memcpy(back.data(), a->data.data(), 24);
  EXPECT_EQ(back, values);
}

TEST(NpyTest, RankOneAndVersionTwoAndFloat16) {
  absl::StatusOr<NpyArray> a = ParseNpy(MakeNpyFloat32({4}, {1, 2, 3, 4}));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_THAT(a->shape, ElementsAre(4));

  a = ParseNpy(Npy(2,
                   "{'descr': '<f2', 'fortran_order': False, 'shape': (1, "
                   "2), }",
                   std::string("\x00\x3c\x00\xc0", 4)));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->descr, "<f2");
  EXPECT_THAT(a->shape, ElementsAre(1, 2));
  EXPECT_EQ(a->data.size(), 4u);
}

TEST(NpyTest, RejectsWhatItCannotRead) {
  const std::string c_order =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
  const std::string data(16, '\0');
  EXPECT_THAT(ParseNpy("not numpy at all").status().message(),
              HasSubstr("magic"));
  EXPECT_THAT(
      ParseNpy(Npy(1,
                   "{'descr': '<f8', 'fortran_order': False, 'shape': (2, "
                   "2), }",
                   std::string(32, '\0')))
          .status()
          .message(),
      HasSubstr("dtype '<f8' is not supported"));
  EXPECT_THAT(
      ParseNpy(Npy(1,
                   "{'descr': '>f4', 'fortran_order': False, 'shape': (2, "
                   "2), }",
                   data))
          .status()
          .message(),
      HasSubstr("dtype '>f4'"));
  EXPECT_THAT(
      ParseNpy(Npy(1,
                   "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), "
                   "}",
                   data))
          .status()
          .message(),
      HasSubstr("Fortran"));
  EXPECT_THAT(
      ParseNpy(Npy(1,
                   "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, "
                   "2), }",
                   data))
          .status()
          .message(),
      HasSubstr("rank 3"));
  EXPECT_THAT(ParseNpy(Npy(1, c_order, data.substr(0, 12))).status().message(),
              HasSubstr("data is 12 bytes, but the shape and dtype need 16"));
  EXPECT_THAT(ParseNpy(Npy(4, c_order, data)).status().message(),
              HasSubstr("version 4"));
  std::string truncated = Npy(1, c_order, data);
  truncated[8] = '\xff';
  truncated[9] = '\x7f';
  EXPECT_THAT(ParseNpy(truncated).status().message(),
              HasSubstr("runs past the end"));
  EXPECT_TRUE(ParseNpy(Npy(1, c_order, data)).ok());
}

}  // namespace
}  // namespace qlinear::clients
