// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Small pieces every REST handler of the node uses: JSON answers, error answers, path splitting and
// number parsing. No state.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "curia/config/json.h"
#include "curia/node/node.h"

namespace curia::node::internal {

// 200 (or `status`) with the JSON body, pretty-printed.
HttpResponse JsonAnswer(const config::Json& body, int status = 200);
// An error answer: {"Error": message} with `status`.
HttpResponse Problem(int status, const std::string& message);
// A JSON array of strings.
config::Json Strings(const std::vector<std::string>& values);
// "/jobs/12/retry" -> {"jobs", "12", "retry"} (empty segments dropped).
std::vector<std::string> SplitPath(const std::string& path);
// A non-negative decimal number of at most 18 digits, nullopt for anything else.
std::optional<int64_t> ParseId(const std::string& text);
// The priority's name ("stat", "routine", "off-peak") of a stored priority number (clamped to 0..2).
const char* PriorityText(int priority);

}  // namespace curia::node::internal
