// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/config/rules.h"

#include <re2/re2.h>

#include <charconv>
#include <cmath>
#include <functional>
#include <string_view>

#include "curia/config/settings.h"

namespace curia::config {

// Declared in rules.h, so that RulePattern can hold it without including RE2.
struct CompiledRegex {
  CompiledRegex(std::string_view pattern, const RE2::Options& options) : re(pattern, options) {}
  RE2 re;
};

namespace {

constexpr const char* kCalledAet = "CalledAET";
constexpr const char* kCallingAet = "CallingAET";
constexpr size_t kMaxShownValue = 128;  // longer DICOM values are cut in explanations

bool IsPseudoTag(const std::string& tag) { return tag == kCalledAet || tag == kCallingAet; }

std::string Trim(std::string_view v) {
  const size_t begin = v.find_first_not_of(' ');
  if (begin == std::string_view::npos) return std::string();
  const size_t end = v.find_last_not_of(' ');
  return std::string(v.substr(begin, end - begin + 1));
}

// A JSON-quoted string, safe to show whatever it holds.
std::string Quote(const std::string& s) { return Dump(Json(s), -1); }

// A DICOM value for an explanation: quoted, and cut when long.
std::string QuoteValue(const std::string& s) {
  if (s.size() <= kMaxShownValue) return Quote(s);
  size_t cut = kMaxShownValue;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 character
  return Quote(s.substr(0, cut)) + "...";
}

std::string QuoteList(const std::vector<std::string>& values) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + Quote(values[i]);
  return out;
}

std::string Join(const std::vector<std::string>& parts, const char* separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? separator : "") + parts[i];
  return out;
}

bool IsRuleName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

constexpr const char* kLinearEngine =
    "RE2, the node's regular-expression engine, runs in linear time and does not support ";

// RE2 reads "\1" to "\7" followed by octal digits as a character code ("\123" is "S") and refuses
// the others, where a rule written for Perl or ECMAScript means a back-reference. So every "\1" to
// "\9" is refused here with the reason, before RE2 can give such a pattern another meaning (text
// quoted between \Q and \E is literal and skipped). Returns the escape, or "" when there is none.
std::string BackReference(std::string_view re) {
  for (size_t i = 0; i + 1 < re.size(); ++i) {
    if (re[i] != '\\') continue;
    const char next = re[i + 1];
    if (next >= '1' && next <= '9') return std::string(re.substr(i, 2));
    if (next == 'Q') {
      const size_t end = re.find("\\E", i + 2);
      if (end == std::string_view::npos) return "";
      i = end;
    }
    ++i;  // the escaped character
  }
  return "";
}

std::string BackReferenceProblem(const std::string& escape) {
  return escape + " is a back-reference: " + kLinearEngine +
         "back-references; spell out the alternatives instead (\"(aa|bb)\" for \"(a|b)\\1\"), or list whole values "
         "with \"In\"";
}

// Why RE2 refused a pattern, with what to write instead for what RE2 leaves out on purpose.
std::string Re2Problem(const RE2& re) {
  const std::string& arg = re.error_arg();
  if (re.error_code() == RE2::ErrorBadEscape && arg == "\\k") return BackReferenceProblem("\\k<name>");
  if (re.error_code() == RE2::ErrorBadPerlOp && (arg == "(?=" || arg == "(?!" || arg == "(?<")) {
    const bool behind = arg == "(?<";
    return arg + (behind ? " is a lookbehind or a named group: " : " is a lookahead: ") + kLinearEngine +
           "lookahead or lookbehind; combine conditions instead ({\"All\": [...]} with {\"Not\": ...})" +
           (behind ? ", and write a named group as (?P<name>...)" : "");
  }
  if (re.error_code() == RE2::ErrorBadEscape && arg == "\\u") {
    return re.error() + " (write a character by its code as \\x{e9})";
  }
  return re.error();
}

// The shape of a DICOM keyword ("SeriesDescription"); the dictionary is the plugin's to check.
bool IsKeyword(const std::string& tag) {
  if (tag.empty() || tag.size() > 64 || tag[0] < 'A' || tag[0] > 'Z') return false;
  for (char c : tag) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Parsing

}  // namespace

std::optional<RulePattern> ReadRegexPattern(const Json& v, const std::string& path, Diagnostics& diag) {
  if (!v.isString() || v.asString().empty()) {
    diag.Add(path, "expected a regular expression (a non-empty string), found " + Describe(v));
    return std::nullopt;
  }
  RulePattern p;
  p.source = v.asString();
  std::string body = p.source;
  if (body.rfind("(?i)", 0) == 0) {
    p.icase = true;
    body = body.substr(4);
  }
  if (const std::string escape = BackReference(body); !escape.empty()) {
    diag.Add(path, "invalid regular expression " + Quote(p.source) + ": " + BackReferenceProblem(escape));
    return std::nullopt;
  }
  RE2::Options options;  // UTF-8, leftmost-first like Perl, the default memory budget (max_mem)
  options.set_log_errors(false);  // RE2 would print to stderr: the problem goes to diag, with the path
  options.set_case_sensitive(!p.icase);
  auto compiled = std::make_shared<const CompiledRegex>(body, options);
  if (!compiled->re.ok()) {
    diag.Add(path, "invalid regular expression " + Quote(p.source) + ": " + Re2Problem(compiled->re));
    return std::nullopt;
  }
  p.regex = std::move(compiled);
  return p;
}

bool RegexFound(const RulePattern& pattern, const std::string& text) {
  return pattern.regex && RE2::PartialMatch(text, pattern.regex->re);
}

bool RegionSelects(const RegionSelection& selection, const std::string& kind, const std::string& label,
                   const CodedConcept& type) {
  if (kind == "SEG" ? !selection.from_seg : kind == "RTSTRUCT" ? !selection.from_rtstruct : true) return false;
  if (selection.label.empty() && selection.codes.empty()) return true;
  if (selection.label_regex && RE2::PartialMatch(label, selection.label_regex->re)) return true;
  for (const CodedConcept& c : selection.codes) {
    if (!type.value.empty() && c.value == type.value && c.scheme == type.scheme) return true;
  }
  return false;
}

namespace {

// [min, max], numbers or null for an open end.
bool ReadRange(const Json& v, const std::string& path, Diagnostics& diag, std::optional<double>& min,
               std::optional<double>& max) {
  bool ok = v.isArray() && v.size() == 2;
  if (ok) {
    for (const Json& e : v) ok = ok && (e.isNull() || e.isNumeric());
  }
  if (ok) {
    const Json& lo = v[0];
    const Json& hi = v[1];
    if (lo.isNumeric()) min = lo.asDouble();
    if (hi.isNumeric()) max = hi.asDouble();
    ok = !(min && max && *min > *max);
  }
  if (!ok) {
    min.reset();
    max.reset();
    diag.Add(path, "expected [min, max] (numbers, null for an open end, min <= max), found " + Dump(v, -1));
  }
  return ok;
}

// A list of strings; `check` returns a problem with one element ("" when fine). Duplicates are
// errors. Elements with problems are left out.
std::vector<std::string> ReadStrings(const Json& v, const std::string& path, bool allow_empty, const std::string& what,
                                     Diagnostics& diag,
                                     const std::function<std::string(const std::string&)>& check = nullptr) {
  std::vector<std::string> out;
  if (!v.isArray() || (!allow_empty && v.empty())) {
    diag.Add(path, "expected " + std::string(allow_empty ? "an array" : "a non-empty array") + " of " + what +
                       ", found " + (v.isArray() ? std::string("an empty array") : Describe(v)));
    return out;
  }
  for (Json::ArrayIndex i = 0; i < v.size(); ++i) {
    const Json& e = v[i];
    const std::string at = JsonPath(path, i);
    if (!e.isString() || Trim(e.asString()).empty()) {
      diag.Add(at, "expected a non-empty string, found " + Describe(e));
      continue;
    }
    const std::string s = Trim(e.asString());
    if (check) {
      const std::string problem = check(s);
      if (!problem.empty()) {
        diag.Add(at, problem);
        continue;
      }
    }
    bool seen = false;
    for (const std::string& o : out) seen = seen || o == s;
    if (seen) {
      diag.Add(at, Quote(s) + " is listed twice");
      continue;
    }
    out.push_back(s);
  }
  return out;
}

const char* const kTagOperators[] = {"Equals", "In", "Regex", "Range", "Exists"};
const char* const kOtherForms[] = {"All", "Any", "Not", kCalledAet, kCallingAet};

RuleCondition ReadCondition(const Json& v, const std::string& path, Diagnostics& diag) {
  RuleCondition c;
  c.path = path;
  if (!v.isObject()) {
    diag.Add(path, "expected a condition ({\"Tag\": K, \"Equals\": v}, {\"All\": [...]}, {\"Any\": [...]}, "
                   "{\"Not\": c}, {\"CalledAET\": ae} or {\"CallingAET\": ae}), found " + Describe(v));
    return c;
  }
  ObjectReader r(v, path, diag);
  std::vector<std::string> forms;
  for (const char* op : kTagOperators) {
    if (r.Has(op)) forms.push_back(op);
  }
  for (const char* form : kOtherForms) {
    if (r.Has(form)) forms.push_back(form);
  }
  if (forms.size() != 1) {
    if (forms.empty() && r.Has("Tag")) {
      diag.Add(path, "\"Tag\" needs one of \"Equals\", \"In\", \"Regex\", \"Range\", \"Exists\"");
    } else if (forms.empty()) {
      diag.Add(path, "expected one of \"Tag\" (with \"Equals\", \"In\", \"Regex\", \"Range\" or \"Exists\"), "
                     "\"All\", \"Any\", \"Not\", \"CalledAET\", \"CallingAET\"");
    } else {
      std::vector<std::string> quoted;
      for (const std::string& f : forms) quoted.push_back(Quote(f));
      diag.Add(path, "a condition has exactly one form, found " + Join(quoted, " and ") +
                         " (combine conditions with \"All\")");
    }
    // Only the forms are wrong: report any other member as unknown, not these.
    r.Get("Tag");
    for (const std::string& f : forms) r.Get(f);
    r.RejectUnknownKeys();
    return c;
  }
  const std::string& form = forms[0];
  if (form == "All" || form == "Any") {
    c.kind = form == "All" ? RuleCondition::Kind::kAll : RuleCondition::Kind::kAny;
    const Json& list = *r.Get(form);
    if (!list.isArray() || list.empty()) {
      diag.Add(r.PathOf(form), "expected a non-empty array of conditions, found " +
                                   (list.isArray() ? std::string("an empty array") : Describe(list)));
    } else {
      for (Json::ArrayIndex i = 0; i < list.size(); ++i) {
        c.children.push_back(ReadCondition(list[i], JsonPath(r.PathOf(form), i), diag));
      }
    }
  } else if (form == "Not") {
    c.kind = RuleCondition::Kind::kNot;
    c.children.push_back(ReadCondition(*r.Get("Not"), r.PathOf("Not"), diag));
  } else if (form == kCalledAet || form == kCallingAet) {
    c.kind = RuleCondition::Kind::kEquals;
    c.tag = form;
    const std::optional<std::string> ae = r.OptionalString(form);
    if (ae) {
      const std::string t = Trim(*ae);
      if (t.empty() || t.size() > 16) {
        diag.Add(r.PathOf(form), "expected an AE title of 1 to 16 characters, found " + Quote(*ae));
      }
      c.values = {t};
    }
  } else {
    c.tag = r.RequiredString("Tag");
    const Json* tag = Find(v, "Tag");
    if (tag && tag->isString() && !IsKeyword(c.tag)) {
      diag.Add(r.PathOf("Tag"), "expected a DICOM keyword such as \"SeriesDescription\" (letters and digits, "
                                "starting with a capital letter), \"CalledAET\" or \"CallingAET\", found " +
                                    Quote(c.tag));
    }
    if (form == "Equals") {
      c.kind = RuleCondition::Kind::kEquals;
      if (const std::optional<std::string> e = r.OptionalString("Equals")) c.values = {Trim(*e)};
    } else if (form == "In") {
      c.kind = RuleCondition::Kind::kIn;
      c.values = ReadStrings(*r.Get("In"), r.PathOf("In"), false, "values", diag);
    } else if (form == "Regex") {
      c.kind = RuleCondition::Kind::kRegex;
      if (auto p = ReadRegexPattern(*r.Get("Regex"), r.PathOf("Regex"), diag)) c.pattern = *p;
    } else if (form == "Range") {
      c.kind = RuleCondition::Kind::kRange;
      ReadRange(*r.Get("Range"), r.PathOf("Range"), diag, c.min, c.max);
    } else {
      c.kind = RuleCondition::Kind::kExists;
      c.exists = r.OptionalBool("Exists").value_or(true);
    }
  }
  r.RejectUnknownKeys();
  return c;
}

void ReadSeriesSelector(ObjectReader& r, SeriesSelector& s, Diagnostics& diag) {
  if (const Json* m = r.Get("Modalities")) {
    s.modalities = ReadStrings(*m, r.PathOf("Modalities"), false, "modalities such as \"CT\"", diag);
  }
  s.orientation = r.Enum("Orientation", "any", {"axial", "coronal", "sagittal", "any"});
  s.min_slices = r.Int("MinSlices", 1, 1, 1000000000);
  if (const std::optional<int64_t> max = r.OptionalInt("MaxSlices", 1, 1000000000)) {
    s.max_slices = *max;
    if (*max < s.min_slices) {
      diag.Add(r.PathOf("MaxSlices"), std::to_string(*max) + " is below MinSlices " + std::to_string(s.min_slices));
    }
  }
  if (const Json* d = r.Get("Description")) s.description = ReadRegexPattern(*d, r.PathOf("Description"), diag);
  if (const Json* t = r.Get("Thickness")) {
    s.has_thickness = ReadRange(*t, r.PathOf("Thickness"), diag, s.thickness_min, s.thickness_max);
  }
  r.RejectUnknownKeys();
}

std::optional<RuleSettings> ReadRule(const Json& value, const std::string& path,
                                     const std::vector<std::string>& task_names, const std::string& tasks_path,
                                     Diagnostics& diag) {
  ObjectReader r(value, path, diag);
  if (!r.ok()) return std::nullopt;
  RuleSettings rule;
  rule.path = path;
  rule.name = r.RequiredString("Name");
  if (const Json* n = Find(value, "Name"); n && n->isString() && !IsRuleName(rule.name)) {
    diag.Add(r.PathOf("Name"), "expected 1 to 64 characters from A-Z, a-z, 0-9, '_', '.', '-', found " +
                                   Quote(rule.name));
  }
  rule.priority = r.Enum("Priority", "routine", {"stat", "routine", "off-peak"});
  if (const Json* m = r.Get("Match")) rule.match = ReadCondition(*m, r.PathOf("Match"), diag);
  rule.series.path = r.PathOf("Series");
  if (const Json* s = r.Get("Series")) {
    ObjectReader sr(*s, r.PathOf("Series"), diag);
    if (sr.ok()) ReadSeriesSelector(sr, rule.series, diag);
  }
  if (const Json* t = r.Get("Tasks")) {
    rule.tasks = ReadStrings(*t, r.PathOf("Tasks"), false, "task names", diag, [&](const std::string& name) {
      for (const std::string& known : task_names) {
        if (known == name) return std::string();
      }
      return Quote(name) + " is not a task of " + tasks_path +
             (task_names.empty() ? " (there are none)" : " (" + QuoteList(task_names) + ")");
    });
  } else {
    diag.Add(r.PathOf("Tasks"), "required member is missing (a non-empty array of task names from " + tasks_path + ")");
  }
  if (const Json* o = r.Get("Outputs")) {
    rule.outputs = ReadStrings(*o, r.PathOf("Outputs"), false, "\"SR\" and/or \"SC\"", diag, [](const std::string& s) {
      return s == "SR" || s == "SC" ? std::string() : "expected \"SR\" or \"SC\", found " + Quote(s);
    });
  }
  if (const Json* d = r.Get("Destinations")) {
    rule.destinations = ReadStrings(*d, r.PathOf("Destinations"), true, "DicomModalities names", diag);
  }
  rule.enabled = r.Bool("Enabled", true);
  r.RejectUnknownKeys();
  return rule;
}

// ---------------------------------------------------------------------------------------------
// Evaluation

struct Context {
  const TagMap& tags;
  const StudyFacts& study;
};

// The trimmed value of a tag or pseudo-tag; nullopt when absent.
std::optional<std::string> Lookup(const Context& ctx, const std::string& tag) {
  if (tag == kCalledAet || tag == kCallingAet) {
    const std::string v = Trim(tag == kCalledAet ? ctx.study.called_aet : ctx.study.calling_aet);
    if (v.empty()) return std::nullopt;
    return v;
  }
  const auto it = ctx.tags.find(tag);
  if (it == ctx.tags.end()) return std::nullopt;
  return Trim(it->second);
}

// The first value of a (possibly multi-valued) DICOM string as a number.
std::optional<double> ParseNumber(const std::string& value) {
  std::string first = Trim(value.substr(0, value.find('\\')));
  if (!first.empty() && first[0] == '+') first.erase(0, 1);
  if (first.empty()) return std::nullopt;
  double v = 0;
  const auto [end, ec] = std::from_chars(first.data(), first.data() + first.size(), v);
  if (ec != std::errc() || end != first.data() + first.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::string RangeText(const std::optional<double>& min, const std::optional<double>& max) {
  if (min && max) return "[" + NumberText(*min) + ", " + NumberText(*max) + "]";
  if (min) return "at least " + NumberText(*min);
  return "at most " + NumberText(max.value_or(0));
}

// "" when `value` (of `tag`) is a number within the range; otherwise why not. `held` gets the
// description when it holds.
std::string CheckRange(const std::string& tag, const std::optional<std::string>& value,
                       const std::optional<double>& min, const std::optional<double>& max, std::string* held) {
  const std::string wanted = min || max ? std::string(min && max ? " in " : " ") + RangeText(min, max) : "";
  if (!value) return tag + " is missing, expected a number" + wanted;
  const std::optional<double> n = ParseNumber(*value);
  if (!n) return tag + " is " + QuoteValue(*value) + ", not a number";
  if ((min && *n < *min) || (max && *n > *max)) {
    const std::string bound = min && max ? "outside " + RangeText(min, max) : min ? "below " + NumberText(*min)
                                                                               : "above " + NumberText(*max);
    return tag + " is " + QuoteValue(*value) + ", " + bound;
  }
  if (held) {
    *held = tag + " is " + QuoteValue(*value) + ", " + (min && max ? "within " + RangeText(min, max) :
                                                        min || max ? RangeText(min, max) : std::string("a number"));
  }
  return std::string();
}

// "" when the pattern matches; otherwise why not.
std::string CheckPattern(const std::string& tag, const std::optional<std::string>& value, const RulePattern& p,
                         std::string* held) {
  const std::string shown = "/" + p.source + "/";
  if (!value) return tag + " is missing, expected a match of " + shown;
  // A search (not a full match), in time linear in the value's length whatever the pattern.
  const bool found = p.regex && RE2::PartialMatch(*value, p.regex->re);
  if (!found) return tag + " is " + QuoteValue(*value) + ", does not match " + shown;
  if (held) *held = tag + " is " + QuoteValue(*value) + ", matches " + shown;
  return std::string();
}

struct Outcome {
  bool holds = false;
  // Why it holds or why it does not, each line naming the JSON path of a leaf condition.
  std::vector<std::string> why;
};

Outcome Evaluate(const RuleCondition& c, const Context& ctx) {
  Outcome out;
  auto leaf = [&](const std::string& failure, const std::string& held) {
    out.holds = failure.empty();
    out.why.push_back(c.path + ": " + (out.holds ? held : failure));
  };
  switch (c.kind) {
    case RuleCondition::Kind::kEquals:
    case RuleCondition::Kind::kIn: {
      const std::optional<std::string> v = Lookup(ctx, c.tag);
      const std::string expected = c.kind == RuleCondition::Kind::kEquals ? Quote(c.values.empty() ? "" : c.values[0])
                                                                          : "one of " + QuoteList(c.values);
      bool found = false;
      for (const std::string& e : c.values) found = found || (v && *v == e);
      if (!v) {
        leaf(c.tag + " is missing, expected " + expected, "");
      } else {
        leaf(found ? "" : c.tag + " is " + QuoteValue(*v) + ", expected " + expected, c.tag + " is " + QuoteValue(*v));
      }
      break;
    }
    case RuleCondition::Kind::kRegex: {
      std::string held;
      const std::string failure = CheckPattern(c.tag, Lookup(ctx, c.tag), c.pattern, &held);
      leaf(failure, held);
      break;
    }
    case RuleCondition::Kind::kRange: {
      std::string held;
      const std::string failure = CheckRange(c.tag, Lookup(ctx, c.tag), c.min, c.max, &held);
      leaf(failure, held);
      break;
    }
    case RuleCondition::Kind::kExists: {
      const std::optional<std::string> v = Lookup(ctx, c.tag);
      const bool present = v && !v->empty();
      const std::string state = present ? c.tag + " is " + QuoteValue(*v) : c.tag + " is missing or empty";
      leaf(present == c.exists ? "" : state + (c.exists ? "" : ", expected absent or empty"), state);
      break;
    }
    case RuleCondition::Kind::kAll: {
      out.holds = true;
      std::vector<std::string> held, failed;
      for (const RuleCondition& child : c.children) {
        Outcome o = Evaluate(child, ctx);
        out.holds = out.holds && o.holds;
        auto& into = o.holds ? held : failed;
        into.insert(into.end(), o.why.begin(), o.why.end());
      }
      out.why = out.holds ? held : failed;
      break;
    }
    case RuleCondition::Kind::kAny: {
      std::vector<std::string> failed;
      for (const RuleCondition& child : c.children) {
        Outcome o = Evaluate(child, ctx);
        if (o.holds) {
          out.holds = true;
          out.why = o.why;
          break;
        }
        failed.insert(failed.end(), o.why.begin(), o.why.end());
      }
      if (!out.holds) out.why = failed;
      break;
    }
    case RuleCondition::Kind::kNot: {
      const Outcome inner = Evaluate(c.children.at(0), ctx);
      out.holds = !inner.holds;
      out.why.push_back(c.path + ": negated condition " + (inner.holds ? "holds" : "fails") + " (" +
                        Join(inner.why, "; ") + ")");
      break;
    }
  }
  return out;
}

// Why the selector rejects the series; empty when it accepts it.
std::vector<std::string> CheckSeries(const SeriesSelector& s, const SeriesFacts& series) {
  std::vector<std::string> why;
  auto tag = [&](const char* keyword) {
    const auto it = series.tags.find(keyword);
    return it == series.tags.end() ? std::optional<std::string>() : std::optional<std::string>(Trim(it->second));
  };
  if (!s.modalities.empty()) {
    const std::optional<std::string> m = tag("Modality");
    bool found = false;
    for (const std::string& e : s.modalities) found = found || (m && *m == e);
    if (!found) {
      why.push_back(JsonPath(s.path, "Modalities") + ": Modality is " + (m ? QuoteValue(*m) : "missing") +
                    ", expected " + (s.modalities.size() == 1 ? "" : "one of ") + QuoteList(s.modalities));
    }
  }
  if (s.orientation != "any" && series.orientation != s.orientation) {
    why.push_back(JsonPath(s.path, "Orientation") + ": orientation is " +
                  (series.orientation.empty() ? "unknown" : series.orientation) + ", " + s.orientation + " wanted");
  }
  if (series.slices < s.min_slices) {
    why.push_back(JsonPath(s.path, "MinSlices") + ": " + std::to_string(series.slices) + " slices, at least " +
                  std::to_string(s.min_slices) + " wanted");
  }
  if (series.slices > s.max_slices) {
    why.push_back(JsonPath(s.path, "MaxSlices") + ": " + std::to_string(series.slices) + " slices, at most " +
                  std::to_string(s.max_slices) + " wanted");
  }
  if (s.description) {
    const std::string failure = CheckPattern("SeriesDescription", tag("SeriesDescription"), *s.description, nullptr);
    if (!failure.empty()) why.push_back(JsonPath(s.path, "Description") + ": " + failure);
  }
  if (s.has_thickness) {
    const std::string failure =
        CheckRange("SliceThickness", tag("SliceThickness"), s.thickness_min, s.thickness_max, nullptr);
    if (!failure.empty()) why.push_back(JsonPath(s.path, "Thickness") + ": " + failure);
  }
  return why;
}

void CollectTags(const RuleCondition& c, std::vector<std::pair<std::string, std::string>>& out) {
  if (!c.tag.empty() && !IsPseudoTag(c.tag)) out.emplace_back(c.tag, JsonPath(c.path, "Tag"));
  for (const RuleCondition& child : c.children) CollectTags(child, out);
}

Json Strings(const std::vector<std::string>& values) {
  Json out(::Json::arrayValue);
  for (const std::string& v : values) out.append(v);
  return out;
}

}  // namespace

std::vector<RuleSettings> ReadRules(const Json& value, const std::string& path,
                                    const std::vector<std::string>& task_names, const std::string& tasks_path,
                                    Diagnostics& diag) {
  std::vector<RuleSettings> rules;
  if (!value.isArray()) {
    diag.Add(path, "expected an array of rules, found " + Describe(value));
    return rules;
  }
  for (Json::ArrayIndex i = 0; i < value.size(); ++i) {
    std::optional<RuleSettings> rule = ReadRule(value[i], JsonPath(path, i), task_names, tasks_path, diag);
    if (!rule) continue;
    for (const RuleSettings& other : rules) {
      if (!rule->name.empty() && other.name == rule->name) {
        diag.Add(JsonPath(rule->path, "Name"), Quote(rule->name) + " is already the name of " + other.path);
        break;
      }
    }
    rules.push_back(std::move(*rule));
  }
  return rules;
}

std::vector<std::pair<std::string, std::string>> RuleTagKeywords(const CuriaSettings& settings) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const RuleSettings& rule : settings.rules) {
    if (rule.match) CollectTags(*rule.match, out);
  }
  return out;
}

Routing Route(const CuriaSettings& settings, const StudyFacts& study) {
  Routing routing;
  const RuleSettings* first_matched = nullptr;
  for (const RuleSettings& rule : settings.rules) {
    RuleDecision decision;
    decision.rule = rule.name;
    decision.path = rule.path;
    decision.enabled = rule.enabled;
    const bool shadowed = settings.routing_mode == RoutingMode::kFirstMatch && first_matched;
    for (const SeriesFacts& series : study.series) {
      SeriesDecision d;
      d.series_id = series.id;
      d.series_uid = series.uid;
      if (!rule.enabled) {
        d.reasons.push_back("disabled");
      } else if (series.own_output) {
        d.reasons.push_back("own output (made by Curia Node)");
      } else {
        const Context ctx{series.tags, study};
        Outcome match;
        match.holds = true;
        if (rule.match) match = Evaluate(*rule.match, ctx);
        d.matched = match.holds;
        if (!match.holds) d.reasons = std::move(match.why);
        std::vector<std::string> rejected = CheckSeries(rule.series, series);
        d.reasons.insert(d.reasons.end(), rejected.begin(), rejected.end());
        if (d.matched && rejected.empty()) {
          decision.matched = true;
          if (shadowed) {
            d.reasons.push_back("first-match: rule " + first_matched->name + " already matched");
          } else {
            d.chosen = true;
            routing.jobs.push_back(RoutedJob{rule.name, series.id, series.uid, rule.tasks, rule.priority,
                                             rule.outputs, rule.destinations});
          }
        }
      }
      decision.series.push_back(std::move(d));
    }
    if (decision.matched && !first_matched) first_matched = &rule;
    routing.rules.push_back(std::move(decision));
  }
  return routing;
}

Json RoutingToJson(const Routing& routing) {
  Json rules(::Json::arrayValue);
  for (const RuleDecision& r : routing.rules) {
    Json series(::Json::arrayValue);
    for (const SeriesDecision& s : r.series) {
      Json one(::Json::objectValue);
      one["ID"] = s.series_id;
      one["SeriesInstanceUID"] = s.series_uid;
      one["Matched"] = s.matched;
      one["Chosen"] = s.chosen;
      one["Reasons"] = Strings(s.reasons);
      series.append(std::move(one));
    }
    Json rule(::Json::objectValue);
    rule["Name"] = r.rule;
    rule["Path"] = r.path;
    rule["Enabled"] = r.enabled;
    rule["Matched"] = r.matched;
    rule["Series"] = std::move(series);
    rules.append(std::move(rule));
  }
  Json jobs(::Json::arrayValue);
  for (const RoutedJob& j : routing.jobs) {
    Json job(::Json::objectValue);
    job["Rule"] = j.rule;
    job["Series"] = j.series_id;
    job["SeriesInstanceUID"] = j.series_uid;
    job["Tasks"] = Strings(j.tasks);
    job["Priority"] = j.priority;
    job["Outputs"] = Strings(j.outputs);
    job["Destinations"] = Strings(j.destinations);
    jobs.append(std::move(job));
  }
  Json out(::Json::objectValue);
  out["Rules"] = std::move(rules);
  out["Jobs"] = std::move(jobs);
  return out;
}

}  // namespace curia::config
