// SPDX-License-Identifier: GPL-3.0-or-later
// The /curia REST API: the route table, each route's answers and error statuses, health.
#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <tuple>

#include "node_fixture.h"
#include "routes.h"

namespace curia::test {
namespace {

using node::HttpRequest;
using node::HttpResponse;
using node::internal::RouteArgs;
using node::internal::RouteTable;

std::string Header(const HttpResponse& r, const std::string& name) {
  for (const auto& [key, value] : r.headers) {
    if (key == name) return value;
  }
  return "";
}

std::string ErrorOf(const HttpResponse& r) {
  return config::Find(config::ParseJson(r.body, "answer"), "Error")->asString();
}

TEST(RouteTable, MatchesPatternsAndAnswers404And405) {
  RouteTable t;
  auto echo = [](const HttpRequest& r, const RouteArgs& a) {
    HttpResponse out;
    out.body = r.method;
    for (const std::string& s : a) out.body += " " + s;
    return out;
  };
  t.Add("GET", "/jobs/{id}", echo);
  t.Add("POST", "/jobs/{id}/retry", echo);
  t.Add("GET", "/files/{*}", echo);
  t.Add("POST", "/jobs/{id}", echo);
  t.Add("GET", "/boom", [](const HttpRequest&, const RouteArgs&) -> HttpResponse {
    throw Error(ErrorCode::kInvalidArgument, "request body: bad");
  });
  t.Add("GET", "/gone", [](const HttpRequest&, const RouteArgs&) -> HttpResponse {
    throw Error(ErrorCode::kNotFound, "no such thing");
  });
  t.Add("GET", "/bug", [](const HttpRequest&, const RouteArgs&) -> HttpResponse { throw std::runtime_error("oops"); });

  EXPECT_EQ(t.Dispatch({"GET", "/jobs/12", {}, ""}).body, "GET 12");
  EXPECT_EQ(t.Dispatch({"GET", "//jobs/12/", {}, ""}).body, "GET 12");
  EXPECT_EQ(t.Dispatch({"POST", "/jobs/12/retry", {}, ""}).body, "POST 12");
  EXPECT_EQ(t.Dispatch({"GET", "/files/a/b.js", {}, ""}).body, "GET a/b.js");
  EXPECT_EQ(t.Dispatch({"GET", "/files", {}, ""}).status, 404);  // {*} needs one segment at least

  const HttpResponse wrong = t.Dispatch({"DELETE", "/jobs/12", {}, ""});
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(Header(wrong, "Allow"), "GET, POST");
  const HttpResponse get_retry = t.Dispatch({"GET", "/jobs/12/retry", {}, ""});
  EXPECT_EQ(get_retry.status, 405);
  EXPECT_EQ(Header(get_retry, "Allow"), "POST");

  const HttpResponse unknown = t.Dispatch({"GET", "/jobs/12/nope", {}, ""});
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(ErrorOf(unknown), "no such route: GET /curia/jobs/12/nope");
  EXPECT_TRUE(unknown.headers.empty());

  EXPECT_EQ(t.Dispatch({"GET", "/boom", {}, ""}).status, 400);
  EXPECT_EQ(t.Dispatch({"GET", "/gone", {}, ""}).status, 404);
  const HttpResponse bug = t.Dispatch({"GET", "/bug", {}, ""});
  EXPECT_EQ(bug.status, 500);
  EXPECT_EQ(ErrorOf(bug), "oops");
}

TEST_F(NodeParts, RestErrorStatuses) {
  EXPECT_EQ(Call("GET", "/no-such-route").status, 404);
  EXPECT_EQ(Call("GET", "/").status, 404);
  for (const auto& [method, path, allow] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"POST", "/health", "GET"},
           {"GET", "/jobs/1/retry", "POST"},
           {"DELETE", "/jobs/1", "GET"},
           {"GET", "/rules/test", "POST"},
           {"PUT", "/studies/x/process", "POST"},
           {"POST", "/metrics", "GET"},
           {"POST", "/ui/app.js", "GET"}}) {
    const HttpResponse r = Call(method, path);
    EXPECT_EQ(r.status, 405) << method << " " << path;
    EXPECT_EQ(Header(r, "Allow"), allow) << method << " " << path;
  }
  // Unknown jobs.
  EXPECT_EQ(Call("GET", "/jobs/987654").status, 404);
  EXPECT_EQ(ErrorOf(Call("GET", "/jobs/987654")), "no job 987654");
  EXPECT_EQ(Call("GET", "/jobs/abc").status, 404);
  EXPECT_EQ(Call("POST", "/jobs/987654/retry").status, 404);
  EXPECT_EQ(Call("POST", "/jobs/987654/cancel").status, 404);
  EXPECT_EQ(Call("GET", "/jobs/987654/outputs/1/image").status, 404);
  // Bad bodies and arguments.
  EXPECT_EQ(Call("POST", "/rules/test", "{not json").status, 400);
  EXPECT_EQ(Call("POST", "/rules/test", "{\"Study\": 3}").status, 400);
  EXPECT_EQ(Call("POST", "/rules/test", "").status, 400);
  EXPECT_EQ(Call("GET", "/jobs", "", {{"state", "sleeping"}}).status, 400);
  EXPECT_EQ(Call("GET", "/jobs", "", {{"limit", "0"}}).status, 400);
  EXPECT_EQ(Call("GET", "/jobs", "", {{"offset", "-1"}}).status, 400);
  // Studies Orthanc does not hold.
  EXPECT_EQ(Call("POST", "/studies/no-such-study/process").status, 404);
  EXPECT_EQ(Call("POST", "/rules/test", "{\"Study\": \"no-such-study\"}").status, 404);
  // A state change the job's state does not allow.
  const int64_t id = Queue(4, 31);
  const HttpResponse conflict = Call("POST", "/jobs/" + std::to_string(id) + "/retry");
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(ErrorOf(conflict), "job " + std::to_string(id) + " is queued: cannot retry");
}

TEST_F(NodeParts, RestJobsProcessCancelAndDryRun) {
  const FakeOrthanc::Ids ids = Send(PhantomFiles("CT", 4, 32));
  const config::Json dry = CallJson("POST", "/rules/test", ids.study + "\n");
  EXPECT_EQ(config::Find(dry, "Study")->asString(), ids.study);
  EXPECT_EQ(config::Find(*config::Find(dry, "Routing"), "Jobs")->size(), 1u);
  EXPECT_TRUE(AllJobs().empty());  // a dry run

  const config::Json processed = CallJson("POST", "/studies/" + ids.study + "/process");
  ASSERT_EQ(config::Find(processed, "Jobs")->size(), 1u);
  const int64_t id = (*config::Find(processed, "Jobs"))[0].asInt64();
  const std::string job_path = "/jobs/" + std::to_string(id);

  const config::Json list = CallJson("GET", "/jobs");
  EXPECT_EQ(config::Find(list, "Total")->asInt64(), 1);
  EXPECT_EQ(config::Find((*config::Find(list, "Jobs"))[0], "Priority")->asString(), "stat");
  const config::Json view = CallJson("GET", job_path);
  EXPECT_EQ(config::Find(view, "Rule")->asString(), "head-ct");
  EXPECT_EQ(config::Find(view, "State")->asString(), "queued");
  EXPECT_TRUE(config::Find(view, "Audit")->isArray());

  const config::Json cancelled = CallJson("POST", job_path + "/cancel");
  EXPECT_EQ(config::Find(cancelled, "State")->asString(), "cancelled");
  const HttpResponse filtered = Call("GET", "/jobs", "", {{"state", "cancelled"}, {"limit", "10"}});
  EXPECT_EQ(config::Find(config::ParseJson(filtered.body, "jobs"), "Total")->asInt64(), 1);
  const HttpResponse none = Call("GET", "/jobs", "", {{"state", "done"}});
  EXPECT_EQ(config::Find(config::ParseJson(none.body, "jobs"), "Total")->asInt64(), 0);
  // Retry brings it back to the queue.
  EXPECT_EQ(config::Find(CallJson("POST", job_path + "/retry"), "State")->asString(), "queued");
  EXPECT_EQ(config::Find(CallJson("GET", job_path), "Node")->asString(), "");  // nobody ran it yet
  // Claimed by a node named "node-t": the list and the job say so, and still once it failed.
  store_->SetNodeName("node-t");
  const std::optional<storage::JobRow> claimed = store_->Claim(1000, 60);
  ASSERT_TRUE(claimed);
  EXPECT_EQ(config::Find((*config::Find(CallJson("GET", "/jobs"), "Jobs"))[0], "Node")->asString(), "node-t");
  ASSERT_TRUE(store_->Fail(storage::ClaimOf(*claimed), "stopped by the test", false, 1, 1001));
  const config::Json failed = CallJson("GET", job_path);
  EXPECT_EQ(config::Find(failed, "State")->asString(), "failed");
  EXPECT_EQ(config::Find(failed, "Node")->asString(), "node-t");
}

TEST_F(NodeParts, RestServesResultsTheUiAndTheConfiguration) {
  const int64_t id = Queue(4, 33);
  RunAll();
  int64_t sr = 0, sc = 0;
  for (const storage::OutputRow& o : store_->Outputs(id)) (o.kind == "SR" ? sr : sc) = o.id;
  ASSERT_TRUE(sr && sc);
  const std::string outputs = "/jobs/" + std::to_string(id) + "/outputs/";
  const HttpResponse image = Call("GET", outputs + std::to_string(sc) + "/image");
  ASSERT_EQ(image.status, 200) << image.body;
  EXPECT_EQ(image.content_type, "image/png");
  EXPECT_EQ(image.body.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(Call("GET", outputs + std::to_string(sr) + "/image").status, 404);  // an SR is no image
  const HttpResponse html = Call("GET", outputs + std::to_string(sr) + "/html");
  EXPECT_EQ(html.status, 200);
  EXPECT_EQ(html.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(Call("GET", outputs + std::to_string(sc) + "/html").status, 404);  // an SC is no SR
  EXPECT_EQ(Call("GET", outputs + "999/html").status, 404);

  EXPECT_EQ(Call("GET", "/ui").content_type, "text/html; charset=utf-8");
  EXPECT_EQ(Call("GET", "/ui/").content_type, "text/html; charset=utf-8");
  EXPECT_EQ(Call("GET", "/ui/app.js").content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(Call("GET", "/ui/nope.js").status, 404);
  const config::Json stats = CallJson("GET", "/stats");
  EXPECT_EQ(config::Find(*config::Find((*config::Find(stats, "Rules"))[0], "Jobs"), "exporting")->asInt64(), 1);

  info_.section = config::ParseJson(R"({"Model": {"Path": "/m"}, "Peer": {"Password": "hunter2", "Token": "t"}})", "s");
  const HttpResponse cfg = Call("GET", "/config");
  EXPECT_EQ(cfg.body.find("hunter2"), std::string::npos);
  const config::Json j = config::ParseJson(cfg.body, "config");
  EXPECT_EQ(config::Find(*config::Find(*config::Find(j, "Configured"), "Peer"), "Password")->asString(), "(redacted)");
  EXPECT_EQ(config::Find(*config::Find(j, "Effective"), "MaxAttempts")->asInt64(), 2);
  EXPECT_EQ(config::Find(*config::Find(j, "Effective"), "Database")->asString(), dir_.File("curia.sqlite"));
}

TEST_F(NodeParts, HealthIsOkThenDegradedForAMinuteAfterAProblem) {
  config::Json h = CallJson("GET", "/health");
  EXPECT_EQ(config::Find(h, "Status")->asString(), "ok");
  EXPECT_TRUE(config::Find(h, "Running")->asBool());
  EXPECT_EQ(config::Find(h, "Version")->asString(), "test-version");
  EXPECT_EQ(config::Find(*config::Find(h, "Model"), "Digest")->asString(), "fixed-backbone-digest");

  health_.NoteProblem("claiming a job: database or disk is full");
  Advance(5);
  h = CallJson("GET", "/health");
  EXPECT_EQ(config::Find(h, "Status")->asString(), "degraded");
  ASSERT_EQ(config::Find(h, "Problems")->size(), 1u);
  EXPECT_EQ((*config::Find(h, "Problems"))[0].asString(), "claiming a job: database or disk is full (5 s ago)");
  Advance(node::Health::kProblemSeconds);
  EXPECT_EQ(config::Find(CallJson("GET", "/health"), "Status")->asString(), "ok");
}

TEST_F(NodeParts, HealthAndMetricsCountJobsByStateAndQueueByPriority) {
  Queue(4, 34);
  const config::Json h = CallJson("GET", "/health");
  EXPECT_EQ(config::Find(*config::Find(h, "Jobs"), "queued")->asInt64(), 1);
  EXPECT_EQ(config::Find(*config::Find(h, "Queue"), "stat")->asInt64(), 1);
  EXPECT_EQ(config::Find(*config::Find(h, "Queue"), "routine")->asInt64(), 0);
  const HttpResponse m = Call("GET", "/metrics");
  EXPECT_EQ(m.content_type, "text/plain; version=0.0.4");
  EXPECT_NE(m.body.find("curia_queue_depth{priority=\"stat\"} 1\n"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("curia_jobs{state=\"queued\",priority=\"stat\"} 1\n"), std::string::npos) << m.body;
  const std::vector<std::pair<std::string, double>> figures = health_.Metrics();
  std::map<std::string, double> metrics(figures.begin(), figures.end());
  EXPECT_EQ(metrics["curia_queue_depth_stat"], 1);
  EXPECT_EQ(metrics["curia_jobs_running"], 0);
}

// GET /health's Cluster: every node that beat into the database (here a second store on the same
// file stands for node-b), how long ago, alive within three heartbeats, what it runs, and the
// leases it lost and took back. A refused heartbeat is a passing problem, never an exception.
TEST_F(NodeParts, HealthShowsTheClusterFromHeartbeats) {
  store_->SetNodeName("node-a");
  config::Json cluster = *config::Find(CallJson("GET", "/health"), "Cluster");
  EXPECT_EQ(config::Find(cluster, "Node")->asString(), "node-a");
  EXPECT_EQ(config::Find(cluster, "Nodes")->size(), 0u);

  storage::NodeBeat a;
  a.name = "node-a";
  a.version = "test-version";
  a.workers = 1;
  a.role = "all";
  health_.Heartbeat(a);
  std::unique_ptr<storage::Store> other = MakeStore(dir_.File("curia.sqlite"));
  other->SetNodeName("node-b");
  storage::NodeBeat b;
  b.name = "node-b";
  b.host = "<b>host</b>";
  other->Heartbeat(b, now() - 2);
  Queue(4, 35);
  ASSERT_TRUE(other->Claim(now(), 30));

  auto nodes = [&] { return *config::Find(*config::Find(CallJson("GET", "/health"), "Cluster"), "Nodes"); };
  config::Json list = nodes();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(config::Find(list[0], "Name")->asString(), "node-a");
  EXPECT_TRUE(config::Find(list[0], "This")->asBool());
  EXPECT_EQ(config::Find(list[0], "LastSeen")->asDouble(), 0);
  EXPECT_TRUE(config::Find(list[0], "Alive")->asBool());
  EXPECT_EQ(config::Find(list[0], "Running")->asInt64(), 0);
  EXPECT_EQ(config::Find(list[0], "Role")->asString(), "all");
  EXPECT_EQ(config::Find(list[1], "Name")->asString(), "node-b");
  EXPECT_FALSE(config::Find(list[1], "This")->asBool());
  EXPECT_EQ(config::Find(list[1], "LastSeen")->asDouble(), 2);
  EXPECT_EQ(config::Find(list[1], "LastSeenAt")->asDouble(), now() - 2);
  EXPECT_TRUE(config::Find(list[1], "Alive")->asBool());
  EXPECT_EQ(config::Find(list[1], "Running")->asInt64(), 1);
  EXPECT_EQ(config::Find(list[1], "Host")->asString(), "<b>host</b>");

  // node-b goes quiet past its lease; node-a beats on and takes its job back.
  Advance(31);
  health_.Heartbeat(a);
  EXPECT_EQ(runner_.RecoverExpiredLeases(), 1);
  list = nodes();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_TRUE(config::Find(list[0], "Alive")->asBool());
  EXPECT_EQ(config::Find(list[0], "LeasesRecovered")->asInt64(), 1);
  EXPECT_EQ(config::Find(list[0], "LeasesLost")->asInt64(), 0);
  EXPECT_FALSE(config::Find(list[1], "Alive")->asBool());
  EXPECT_EQ(config::Find(list[1], "LastSeen")->asDouble(), 33);
  EXPECT_EQ(config::Find(list[1], "Running")->asInt64(), 0);
  EXPECT_EQ(config::Find(list[1], "LeasesLost")->asInt64(), 1);
  // Alive up to three heartbeat intervals after the last one.
  Advance(node::Health::kAliveSeconds);
  EXPECT_TRUE(config::Find(nodes()[0], "Alive")->asBool());
  Advance(1);
  EXPECT_FALSE(config::Find(nodes()[0], "Alive")->asBool());

  EXPECT_EQ(config::Find(CallJson("GET", "/health"), "Status")->asString(), "ok");
  storage::NodeBeat refused = a;
  refused.name = "node a";  // the store refuses it, as it would a full disk
  health_.Heartbeat(refused);
  const config::Json h = CallJson("GET", "/health");
  EXPECT_EQ(config::Find(h, "Status")->asString(), "degraded");
  ASSERT_EQ(config::Find(h, "Problems")->size(), 1u);
  EXPECT_EQ((*config::Find(h, "Problems"))[0].asString().rfind("recording this node's heartbeat: ", 0), 0u);
}

}  // namespace
}  // namespace curia::test
