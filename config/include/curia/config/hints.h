// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Small helpers for the hints of configuration messages ("did you mean ...?").
//
//   Nearest("pacss", {"pacs", "archive"}) == "pacs";   Nearest("x", {"pacs"}) == ""
//   QuoteList({"a", "b"}) == "\"a\", \"b\""
#include <string>
#include <vector>

namespace curia::config {

// The candidate closest to `word` (edit distance, case-insensitive) when it is close enough to be a
// typo of it (at most 2 edits, or a third of the longer word), else "".
std::string Nearest(const std::string& word, const std::vector<std::string>& candidates);

// "\"a\", \"b\"": a list of names for a message.
std::string QuoteList(const std::vector<std::string>& items);

}  // namespace curia::config
