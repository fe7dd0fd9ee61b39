// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Text made safe for the HTML pages the node (the SR as HTML) and the tool (curia evaluate's
// report) write.
//
//   HtmlEscape("a<b & \"c\"") == "a&lt;b &amp; &quot;c&quot;"
#include <string>

namespace curia::config {

// Text made safe inside HTML elements and attribute values (both quote characters escaped).
std::string HtmlEscape(const std::string& text);

}  // namespace curia::config
