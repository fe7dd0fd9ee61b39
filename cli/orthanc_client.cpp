// SPDX-License-Identifier: GPL-3.0-or-later
#include "orthanc_client.h"

#include <openssl/evp.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>

#include "args.h"
#include "curia/config/error.h"

namespace curia::cli {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

std::string Base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace

OrthancClient::OrthancClient(const std::string& url, std::string user, std::string password) : url_(url) {
  const std::string scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0) {
    throw UsageError("--orthanc: '" + url + "': an http:// URL is expected (for HTTPS, reach Orthanc through a local port)");
  }
  std::string rest = url.substr(scheme.size());
  const size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    prefix_ = rest.substr(slash);
    while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
    rest = rest.substr(0, slash);
  }
  const size_t colon = rest.rfind(':');
  host_ = colon == std::string::npos ? rest : rest.substr(0, colon);
  port_ = colon == std::string::npos ? "80" : rest.substr(colon + 1);
  if (host_.empty() || port_.empty() || port_.find_first_not_of("0123456789") != std::string::npos) {
    throw UsageError("--orthanc: '" + url + "' is not http://HOST[:PORT][/PREFIX]");
  }
  if (!user.empty()) authorization_ = "Basic " + Base64(user + ":" + password);
}

std::string OrthancClient::Request(const std::string& method, const std::string& path, const std::string& body) const {
  const std::string target = prefix_ + path;
  http::response<http::string_body> response;
  try {
    boost::asio::io_context io;
    tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(120));
    stream.connect(resolver.resolve(host_, port_));
    stream.socket().set_option(tcp::no_delay(true));
    http::request<http::string_body> request(method == "POST" ? http::verb::post : http::verb::get, target, 11);
    request.set(http::field::host, host_);
    request.set(http::field::user_agent, "curia");
    if (!authorization_.empty()) request.set(http::field::authorization, authorization_);
    if (method == "POST") {
      request.set(http::field::content_type, "text/plain");
      request.body() = body;
      request.prepare_payload();
    }
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::uint64_t{4} << 30);  // a large multi-frame instance
    http::read(stream, buffer, parser);
    response = parser.release();
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  } catch (const boost::system::system_error& e) {
    throw Error(ErrorCode::kUnavailable, "Orthanc at " + url_ + " does not answer " + method + " " + path + ": " + e.what());
  }
  const unsigned status = response.result_int();
  if (status == 200) return std::move(response.body());
  const std::string what = "Orthanc at " + url_ + ": " + method + " " + path + " answered HTTP " + std::to_string(status);
  if (status == 401 || status == 403) throw Error(ErrorCode::kInvalidArgument, what + " (check --orthanc-user and the password)");
  if (status == 404) throw Error(ErrorCode::kNotFound, what);
  throw Error(ErrorCode::kUnavailable, what + ": " + response.body().substr(0, 300));
}

std::string OrthancClient::Get(const std::string& path) const { return Request("GET", path, ""); }

config::Json OrthancClient::GetJson(const std::string& path) const {
  return config::ParseJson(Request("GET", path, ""), url_ + path);
}

config::Json OrthancClient::PostJson(const std::string& path, const std::string& body) const {
  return config::ParseJson(Request("POST", path, body), url_ + path);
}

std::vector<OrthancClient::Series> OrthancClient::SeriesOf(const std::string& uid) const {
  const config::Json found = PostJson("/tools/lookup", uid);
  std::vector<std::string> series_ids;
  for (const auto& item : found) {
    const std::string type = item["Type"].asString();
    if (type == "Study") {
      const config::Json study = GetJson("/studies/" + item["ID"].asString());  // kept: the loop reads into it
      for (const auto& s : study["Series"]) series_ids.push_back(s.asString());
    } else if (type == "Series") {
      series_ids.push_back(item["ID"].asString());
    }
  }
  if (series_ids.empty()) throw Error(ErrorCode::kNotFound, "Orthanc has no study or series " + uid);
  std::vector<Series> out;
  for (const std::string& id : series_ids) {
    const config::Json s = GetJson("/series/" + id);
    Series one;
    one.orthanc_id = id;
    one.series_uid = s["MainDicomTags"]["SeriesInstanceUID"].asString();
    one.modality = s["MainDicomTags"]["Modality"].asString();
    for (const auto& i : s["Instances"]) one.instances.push_back(i.asString());
    out.push_back(std::move(one));
  }
  return out;
}

std::string OrthancInstances::Bytes(const std::string& id) const { return client_.Get("/instances/" + id + "/file"); }

}  // namespace curia::cli
