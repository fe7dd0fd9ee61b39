// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/config/text.h"

#include <gtest/gtest.h>

namespace curia::config {
namespace {

TEST(Text, HtmlEscapeMakesMarkupAndQuotesInert) {
  EXPECT_EQ(HtmlEscape("<script>alert('x')</script>"), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
  EXPECT_EQ(HtmlEscape("a=\"b\" & c"), "a=&quot;b&quot; &amp; c");
  // Already escaped text is escaped again (the page shows what the text holds, not what it means).
  EXPECT_EQ(HtmlEscape("&amp;"), "&amp;amp;");
  // Everything else, UTF-8 included, passes unchanged.
  EXPECT_EQ(HtmlEscape("Nieren-Läsion 1.2.840"), "Nieren-Läsion 1.2.840");
  EXPECT_EQ(HtmlEscape(""), "");
}

}  // namespace
}  // namespace curia::config
