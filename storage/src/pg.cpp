// SPDX-License-Identifier: GPL-3.0-or-later
#include "pg.h"

#include <cstdio>
#include <cstdlib>

#include "curia/config/error.h"
#include "store_text.h"

namespace curia::storage::pg {
namespace {

// libpq's messages end with a newline and may span lines: one line for ours.
std::string OneLine(std::string message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  for (char& c : message) {
    if (c == '\n') c = ' ';
  }
  return message;
}

// Classes of SQLSTATE (PostgreSQL's "Errors and Messages" appendix): 08 connection exception,
// 53 insufficient resources, 57 operator intervention (shutdown), 40 transaction rollback
// (serialisation failure, deadlock): retrying later may help. 22 data exception, 23 integrity
// constraint, 42 syntax or access: the input or the schema is wrong.
ErrorCode CodeOf(const std::string& sqlstate) {
  const std::string cls = sqlstate.substr(0, 2);
  if (sqlstate.empty() || cls == "08" || cls == "53" || cls == "57" || cls == "40") return ErrorCode::kUnavailable;
  if (cls == "22" || cls == "23" || cls == "42") return ErrorCode::kInvalidArgument;
  return ErrorCode::kInternal;
}

}  // namespace

Value Int(int64_t v) { return Text(std::to_string(v)); }

Value Real(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return Text(buf);
}

int64_t Result::Affected() const {
  const char* n = PQcmdTuples(r_.get());
  return n && *n ? std::strtoll(n, nullptr, 10) : 0;
}

int64_t Result::Int(int row, int col) const { return std::strtoll(PQgetvalue(r_.get(), row, col), nullptr, 10); }

double Result::Real(int row, int col) const { return std::strtod(PQgetvalue(r_.get(), row, col), nullptr); }

std::string Result::Text(int row, int col) const {
  return std::string(PQgetvalue(r_.get(), row, col), static_cast<size_t>(PQgetlength(r_.get(), row, col)));
}

std::string Result::Bytes(int row, int col) const {
  size_t size = 0;
  unsigned char* bytes =
      PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r_.get(), row, col)), &size);
  if (!bytes) throw Error(ErrorCode::kUnavailable, "out of memory unescaping a bytea value");
  std::string out(reinterpret_cast<const char*>(bytes), size);
  PQfreemem(bytes);
  return out;
}

Connection::Connection(const std::string& url, const std::string& name) : name_(name) {
  // Checked first, so that a malformed URL is the user's to fix, not a server problem.
  char* parse_error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &parse_error);
  if (!options) {
    const std::string why = parse_error ? OneLine(parse_error) : "cannot be parsed";
    PQfreemem(parse_error);
    throw Error(ErrorCode::kInvalidArgument, name_ + ": not a usable PostgreSQL URL: " + why);
  }
  PQconninfoFree(options);
  // connect_timeout before the URL, so that the URL's own wins; the application name is a
  // fallback for the same reason (pg_stat_activity shows who is connected).
  const char* const keywords[] = {"connect_timeout", "dbname", "fallback_application_name", nullptr};
  const char* const values[] = {"10", url.c_str(), "curia-node", nullptr};
  c_.reset(PQconnectdbParams(keywords, values, 1));
  if (!c_) throw Error(ErrorCode::kUnavailable, name_ + ": cannot connect: out of memory");
  if (PQstatus(c_.get()) != CONNECTION_OK) {
    throw Error(ErrorCode::kUnavailable, name_ + ": cannot connect: " + OneLine(PQerrorMessage(c_.get())));
  }
}

Result Connection::Exec(const std::string& sql, const std::vector<Value>& values) {
  std::vector<const char*> data(values.size());
  std::vector<int> lengths(values.size()), formats(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    data[i] = values[i].data.c_str();
    lengths[i] = static_cast<int>(values[i].data.size());
    formats[i] = values[i].binary ? 1 : 0;
  }
  // Without values, the simple protocol: it runs several statements at once (the migrations).
  Result r(values.empty() ? PQexec(c_.get(), sql.c_str())
                          : PQexecParams(c_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr, data.data(),
                                         lengths.data(), formats.data(), 0));
  const ExecStatusType status = PQresultStatus(r.raw());
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
    sqlstate_.clear();
    return r;
  }
  const char* state = r.raw() ? PQresultErrorField(r.raw(), PG_DIAG_SQLSTATE) : nullptr;
  sqlstate_ = state ? state : "";
  std::string message = r.raw() ? PQresultErrorMessage(r.raw()) : "";
  if (message.empty()) message = PQerrorMessage(c_.get());
  if (message.rfind("ERROR:  ", 0) == 0) message.erase(0, 8);  // the severity adds nothing here
  throw Error(ok() ? CodeOf(sqlstate_) : ErrorCode::kUnavailable,
              name_ + ": " + OneLine(message) + " (" + store_text::Abbreviate(sql) + ")");
}

}  // namespace curia::storage::pg
