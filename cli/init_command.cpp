// SPDX-License-Identifier: GPL-3.0-or-later
// curia init: a complete, commented Orthanc configuration for a Curia Node (OUT/orthanc.json) that
// `Orthanc OUT/orthanc.json` starts as is, with the demo model and demo tasks unless --model names
// a real model, and OUT/README.txt saying how to start and use it.
#include <arpa/inet.h>

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <vector>

#include "commands.h"
#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/config/settings.h"
#include "curia/model/demo_model.h"
#include "plugin_path.h"
#include "version.h"

namespace curia::cli {
namespace {

namespace fs = std::filesystem;


struct Peer {
  std::string aet, host;
  int64_t port = 0;
};

// DICOM AE title: 1 to 16 characters of the default repertoire, no backslash, no control
// characters, not only spaces (leading and trailing spaces are not significant: refused here).
void CheckAet(const std::string& aet, const std::string& what) {
  if (aet.empty() || aet.size() > 16) {
    throw UsageError(what + " must be 1 to 16 characters, got '" + aet + "' (" + std::to_string(aet.size()) + ")");
  }
  for (char c : aet) {
    if (c < 0x20 || c > 0x7E || c == '\\') {
      throw UsageError(what + " '" + aet + "': only printable ASCII characters without backslash are allowed");
    }
  }
  if (aet.front() == ' ' || aet.back() == ' ') throw UsageError(what + " '" + aet + "' starts or ends with a space");
}

int64_t ParsePort(const std::string& text, const std::string& what) {
  int64_t v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size() || v < 1 || v > 65535) {
    throw UsageError(what + " must be a port number from 1 to 65535, got '" + text + "'");
  }
  return v;
}

// AET@HOST:PORT, HOST a name, an IPv4 address or a bracketed IPv6 address ([::1]). `option` names
// it in messages ("--pacs"); without `port_required`, ":PORT" may be left out (104).
Peer ParsePeer(const std::string& text, const std::string& option, bool port_required) {
  const std::string form = option + " must be AET@HOST" + (port_required ? ":PORT" : "[:PORT]") + " (e.g. " +
                           (port_required ? "PACS@10.0.0.5:104" : "CT1@10.0.0.7") + "), got '" + text + "': ";
  const std::string what = option == "--pacs" ? "the PACS" : option;
  const size_t at = text.rfind('@');
  if (at == std::string::npos) throw UsageError(form + "no '@' between the AE title and the host");
  Peer p;
  p.aet = text.substr(0, at);
  const std::string rest = text.substr(at + 1);
  size_t colon = rest.rfind(':');
  // Without a port: "host", "[v6]"; with one: "host:port", "[v6]:port".
  if (colon != std::string::npos && !rest.empty() && rest.front() == '[' && rest.rfind(']') > colon) colon = std::string::npos;
  if (colon == std::string::npos && port_required) throw UsageError(form + "no ':PORT' after the host");
  p.host = colon == std::string::npos ? rest : rest.substr(0, colon);
  if (p.host.size() >= 2 && p.host.front() == '[' && p.host.back() == ']') p.host = p.host.substr(1, p.host.size() - 2);
  if (p.aet.empty()) throw UsageError(form + "the AE title is empty");
  if (p.host.empty()) throw UsageError(form + "the host is empty");
  for (char c : p.host) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '_')) {
      throw UsageError(form + "the host '" + p.host + "' holds a character a host name or address cannot");
    }
  }
  if (p.host.find(':') != std::string::npos && rest.front() != '[') {
    throw UsageError(form + "write an IPv6 address in brackets, e.g. " + (port_required ? "PACS@[::1]:104" : "CT1@[::1]"));
  }
  CheckAet(p.aet, what + " AE title");
  p.port = colon == std::string::npos ? 104 : ParsePort(rest.substr(colon + 1), what + " port");
  return p;
}

// Orthanc compares a modality's Host with the caller's address as text (DicomCheckModalityHost):
// a host name never matches.
bool IsIpAddress(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// A DicomModalities name from an AE title: lower case, [a-z0-9-] only, unique among `taken`.
std::string ModalityName(const std::string& aet, std::vector<std::string>& taken) {
  std::string name = "from-";
  for (char c : aet) name += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : '-';
  std::string unique = name;
  for (int n = 2; std::find(taken.begin(), taken.end(), unique) != taken.end(); ++n) unique = name + "-" + std::to_string(n);
  taken.push_back(unique);
  return unique;
}

// A JSON string literal.
std::string Q(const std::string& s) { return config::Dump(config::Json(s), -1); }

// `json` pretty-printed, every line after the first indented by `indent` spaces.
std::string Nested(const config::Json& json, int indent) {
  std::string text = config::Dump(json, 2), out;
  for (char c : text) {
    out += c;
    if (c == '\n') out += std::string(static_cast<size_t>(indent), ' ');
  }
  return out;
}

// An object as Nested writes it, but with its members in file order (JsonCpp writes them sorted):
// the tasks appear in the configuration as the node will list them.
std::string NestedInFileOrder(const config::Json& object, int indent) {
  const std::string pad(static_cast<size_t>(indent), ' ');
  const auto members = config::MembersInFileOrder(object);
  if (members.empty()) return "{}";
  std::string out = "{";
  for (size_t i = 0; i < members.size(); ++i) {
    out += (i ? ",\n" : "\n") + pad + "  " + Q(members[i].first) + ": " + Nested(*members[i].second, indent + 2);
  }
  return out + "\n" + pad + "}";
}

// A cluster's PostgreSQL database, from --postgresql postgresql://USER@HOST[:PORT]/DATABASE.
struct PgTarget {
  std::string user, host, database;
  int64_t port = 5432;
};

PgTarget ParsePostgresUrl(const std::string& url) {
  const std::string form = "--postgresql must be postgresql://USER@HOST[:PORT]/DATABASE (e.g. "
                           "postgresql://curia@db.example:5432/curia), got '";
  // Messages echo the URL with a password typed into it (USER:PASSWORD@) masked.
  std::string shown = url;
  if (const size_t at = shown.rfind('@'), begin = shown.find("://"); at != std::string::npos && begin != std::string::npos) {
    const size_t colon = shown.find(':', begin + 3);
    if (colon != std::string::npos && colon < at) shown.replace(colon + 1, at - colon - 1, "***");
  }
  const size_t scheme_end = url.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : url.substr(0, scheme_end);
  if (scheme != "postgresql" && scheme != "postgres") {
    throw UsageError(form + shown + "': it does not start with postgresql://");
  }
  std::string rest = url.substr(scheme_end + 3);
  const size_t at = rest.rfind('@');
  if (at != std::string::npos && rest.substr(0, at).find(':') != std::string::npos) {
    throw UsageError("--postgresql holds a password (USER:PASSWORD@): it would be written in clear into the "
                     "configuration and shell history; put it in a file and pass --password-file FILE");
  }
  if (rest.find_first_of("?#") != std::string::npos) {
    throw UsageError(form + shown + "': parameters (?...) are not taken here; add libpq parameters to the written "
                     "Database URL afterwards");
  }
  PgTarget t;
  if (at == std::string::npos || at == 0) throw UsageError(form + shown + "': no USER@ before the host");
  t.user = rest.substr(0, at);
  rest = rest.substr(at + 1);
  const size_t slash = rest.find('/');
  if (slash == std::string::npos || slash + 1 == rest.size()) throw UsageError(form + shown + "': no /DATABASE after the host");
  t.database = rest.substr(slash + 1);
  std::string hostport = rest.substr(0, slash);
  size_t colon = hostport.rfind(':');
  if (colon != std::string::npos && !hostport.empty() && hostport.front() == '[' && hostport.rfind(']') > colon) {
    colon = std::string::npos;
  }
  t.host = colon == std::string::npos ? hostport : hostport.substr(0, colon);
  if (colon != std::string::npos) t.port = ParsePort(hostport.substr(colon + 1), "--postgresql's port");
  if (t.host.size() >= 2 && t.host.front() == '[' && t.host.back() == ']') t.host = t.host.substr(1, t.host.size() - 2);
  if (t.host.empty()) throw UsageError(form + shown + "': the host is empty");
  for (char c : t.host) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '_')) {
      throw UsageError(form + shown + "': the host '" + t.host + "' holds a character a host name or address cannot");
    }
  }
  for (const std::string* part : {&t.user, &t.database}) {
    for (char c : *part) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) {
        throw UsageError(form + shown + "': '" + *part + "' may hold only letters, digits, '_', '-' and '.'");
      }
    }
  }
  return t;
}

// The password in `path`: its first line, without the line end. Never echoed.
std::string ReadPasswordFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kInvalidArgument, "--password-file " + path + ": cannot be read");
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) throw Error(ErrorCode::kInvalidArgument, "--password-file " + path + ": the first line is empty");
  return line;
}

// A field of a libpq password file: ':' and '\' escaped with '\'.
std::string PgPassField(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == ':' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string Absolute(const std::string& path) {
  std::string p = fs::absolute(fs::path(path)).lexically_normal().string();
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

}  // namespace

int InitCommand(const Args& args) {
  ArgParser p("curia init",
              "Writes OUT/orthanc.json: a complete Orthanc configuration for a Curia Node, every key explained\n"
              "in a comment (docs/node-setup.md has the same), that `TCP_NODELAY=1 Orthanc OUT/orthanc.json`\n"
              "starts as is, and OUT/README.txt. Without --model it generates the DEMO model (random weights:\n"
              "meaningless output) into OUT/demo-model and configures the demo tasks; with a real model the\n"
              "Tasks and Rules are left empty for you to fill in. One rule sends every CT and MR study to all\n"
              "the tasks; with --pacs the results (SR and key images) go to that PACS.");
  p.Option("--out", "DIR", "folder of the node (configuration, storage, index, queue database)", true)
      .Option("--model", "DIR", "Curia model folder (a raidium/curia download); default: a DEMO model in OUT/demo-model")
      .Option("--aet", "AET", "the node's DICOM AE title", false, "CURIA")
      .Option("--dicom-port", "PORT", "DICOM port the node listens on", false, "4242")
      .Option("--http-port", "PORT", "HTTP port of Orthanc's REST API and web UI (loopback only)", false, "8042")
      .Option("--pacs", "AET@HOST:PORT", "where results are sent, e.g. PACS@10.0.0.5:104 (default: nowhere); it may send studies too")
      .Repeated("--allow-store", "AET@HOST[:PORT]",
                "a modality allowed to send studies (C-STORE), by AE title and IP address, e.g. CT1@10.0.0.7; "
                "only listed modalities may send")
      .Flag("--allow-any-store", "accept studies from any AE title and address (Orthanc's open default): for trials only")
      .Option("--plugin", "FILE", "the Curia Node plugin (default: the build tree's, else " + std::string(kInstalledPlugin) + ")")
      .Option("--postgresql", "URL",
              "a node of a cluster: postgresql://USER@HOST[:PORT]/DATABASE holds Orthanc's index and files "
              "(orthanc-postgresql, \"Lock\": false) and Curia's queue (needs --node-name, --password-file)")
      .Option("--node-name", "NAME", "this node's name (Curia.NodeName, Orthanc's DatabaseServerIdentifier); "
              "default: the host name")
      .Option("--password-file", "FILE", "with --postgresql: a file whose first line is USER's password")
      .Option("--role", "ROLE",
              "with --postgresql: all (receives, routes, runs jobs), ingest (receives and routes; runs no job) or "
              "work (runs jobs; no DICOM listener: a GPU host added to a cluster)",
              false, "all")
      .Flag("--force", "replace an existing OUT/orthanc.json");
  if (!p.Parse(args)) return 0;

  // Everything is checked before anything is written.
  const std::string aet = p.Get("--aet");
  CheckAet(aet, "--aet");
  const int64_t dicom_port = ParsePort(p.Get("--dicom-port"), "--dicom-port");
  const int64_t http_port = ParsePort(p.Get("--http-port"), "--http-port");
  if (dicom_port == http_port) throw UsageError("--dicom-port and --http-port are both " + std::to_string(http_port));
  std::optional<Peer> pacs;
  if (p.Has("--pacs")) pacs = ParsePeer(p.Get("--pacs"), "--pacs", true);
  std::vector<Peer> senders;
  for (const std::string& text : p.GetAll("--allow-store")) senders.push_back(ParsePeer(text, "--allow-store", false));
  const bool open_store = p.IsSet("--allow-any-store");
  std::optional<PgTarget> pg;
  std::string pg_password;
  if (p.Has("--postgresql")) {
    pg = ParsePostgresUrl(p.Get("--postgresql"));
    if (!p.Has("--node-name")) throw UsageError("--postgresql needs --node-name NAME (unique per node)");
    if (!p.Has("--password-file")) throw UsageError("--postgresql needs --password-file FILE (the password of " + pg->user + ")");
  } else if (p.Has("--password-file")) {
    throw UsageError("--password-file goes with --postgresql");
  }
  const std::string role = p.Get("--role");
  if (role != "all" && role != "ingest" && role != "work") {
    throw UsageError("--role must be all, ingest or work, got '" + role + "'");
  }
  if (role != "all" && !pg) throw UsageError("--role " + role + " is a node of a cluster: it goes with --postgresql");
  const std::string node_name = p.Has("--node-name") ? p.Get("--node-name") : std::string();
  if (p.Has("--node-name")) {
    if (const std::string problem = config::NodeNameProblem(node_name); !problem.empty()) {
      throw UsageError("--node-name '" + node_name + "' " + problem);
    }
  }
  if (pg) pg_password = ReadPasswordFile(p.Get("--password-file"));
  if (open_store && !senders.empty()) throw UsageError("--allow-any-store and --allow-store exclude each other");
  const std::string out = Absolute(p.Get("--out"));
  const std::string config_path = out + "/orthanc.json";
  if (fs::exists(config_path) && !p.IsSet("--force")) {
    throw Error(ErrorCode::kInvalidArgument, config_path + " exists; pass --force to replace it");
  }
  const PluginLocation found = FindPlugin();
  const std::string plugin = p.Has("--plugin") ? Absolute(p.Get("--plugin")) : found.path;
  const bool plugin_exists = p.Has("--plugin") ? fs::is_regular_file(plugin) : found.exists;
  const bool gdcm = fs::exists(kGdcmPlugin);
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) throw Error(ErrorCode::kInvalidArgument, out + ": cannot create folder (" + ec.message() + ")");

  // The model: a real one as given, or the demo model (generated here, deterministic).
  std::string model_dir;
  bool demo = false;
  std::vector<std::string> notes;
  if (p.Has("--model")) {
    model_dir = Absolute(p.Get("--model"));
    demo = model::IsDemoModel(model_dir);
    if (!fs::exists(model_dir + "/config.json")) {
      notes.push_back("warning: " + model_dir + "/config.json does not exist (yet): the node will not start until the "
                      "model is there (README.md: Using the real Curia weights)");
    }
  } else {
    model_dir = out + "/demo-model";
    demo = true;
    if (!model::IsDemoModel(model_dir)) {
      model::WriteDemoModel(model_dir, model::DemoSize::kTiny, 0);
      std::cout << "wrote the DEMO model to " << model_dir << " (random weights: its findings are MEANINGLESS)\n";
    } else {
      std::cout << "using the DEMO model in " << model_dir << " (random weights: its findings are MEANINGLESS)\n";
    }
  }
  // The demo tasks and the demo region task (the demo-mask head on every SEG segment and RTSTRUCT
  // ROI: a SEG or RTSTRUCT sent after a study gives a region job out of the box), in this order.
  std::string demo_text = model::DemoTasksJson();
  const std::string region_text = model::DemoRegionTasksJson();
  demo_text = demo_text.substr(0, demo_text.rfind('}')) + "," + region_text.substr(region_text.find('{') + 1);
  const config::Json demo_tasks = config::ParseJson(demo_text, "demo tasks");
  std::vector<std::string> task_names;
  if (demo) {
    for (const auto& [name, value] : config::MembersInFileOrder(demo_tasks)) task_names.push_back(name);
  }

  std::ostringstream j;
  j << "// Curia Node: Orthanc configuration written by `curia init` (Curia Node " CURIA_VERSION_STRING ").\n"
       "// RESEARCH USE ONLY - NOT FOR CLINICAL USE.\n"
       "//\n"
       "// Start the node:   TCP_NODELAY=1 Orthanc "
    << config_path
    << "\n"
       "// (TCP_NODELAY=1 turns off Nagle's algorithm in DCMTK: DICOM transfers are about 10x faster.)\n"
       "// Orthanc accepts these // comments. Every key is explained here and in docs/node-setup.md.\n"
       "{\n"
       "  // Shown in Orthanc Explorer and GET /system.\n"
       "  \"Name\": "
    << Q("Curia Node " + aet)
    << ",\n\n"
       "  // Where Orthanc keeps the DICOM files it receives, and its SQLite index (created on first start).\n"
       "  \"StorageDirectory\": "
    << Q(out + "/storage") << ",\n  \"IndexDirectory\": " << Q(out + "/index")
    << ",\n\n"
       "  // The node's DICOM identity: modalities and PACS send studies to this AE title and port (C-STORE).\n"
       "  \"DicomAet\": "
    << Q(aet) << ",\n  \"DicomPort\": " << dicom_port
    << ",\n"
    << (role == "work" ? "  // A work node (Curia.Role \"work\") has no DICOM listener: modalities send to the ingest nodes.\n"
                         "  \"DicomServerEnabled\": false,\n"
                       : "")
    << "\n"
       "  // Orthanc's REST API (and Curia's, under /curia/) and its web UI, /app/explorer.html.\n"
       "  \"HttpPort\": "
    << http_port
    << ",\n"
       "  // false: only this machine can reach the HTTP port.\n"
       "  \"RemoteAccessAllowed\": false,\n"
       "  // No login, acceptable while the HTTP port is reachable from this machine only. Before exposing\n"
       "  // it (RemoteAccessAllowed true), set this to true and add \"RegisteredUsers\": {\"user\": \"password\"}.\n"
       "  \"AuthenticationEnabled\": false,\n\n"
       "  // Seconds without a new instance after which a study is complete (Orthanc's StableStudy) and\n"
       "  // the node routes it. 5 s suits a modality that sends a study in one go; raise it (Orthanc's\n"
       "  // default is 60) when studies arrive in parts: a study routed early is processed again, and\n"
       "  // the new job supersedes the first, when the rest arrives.\n"
       "  \"StableAge\": 5,\n"
       "  // Seconds the node waits for a peer's answer when it sends (results to the PACS); failed\n"
       "  // sends are retried (Curia.Export).\n"
       "  \"DicomScuTimeout\": 10,\n"
       "  // MB of stored DICOM files Orthanc keeps in memory (its default is 128). The node reads a\n"
       "  // study's files back a few times in a row while it analyses it; the system's file cache serves\n"
       "  // those reads as well, and Orthanc's cache would make the node's memory grow with the study's\n"
       "  // size (docs/performance.md): 0 turns it off.\n"
       "  \"MaximumStorageCacheSize\": 0,\n\n"
       "  // The Curia Node plugin, loaded at start-up.\n"
    << (gdcm ? "  // And Orthanc's GDCM plugin (package orthanc-gdcm): JPEG 2000 images in Orthanc's own previews\n"
               "  // and transcoding. The node decodes JPEG 2000 without it (OpenJPEG).\n"
             : "")
    << "  \"Plugins\": [" << Q(plugin) << (gdcm ? ", " + Q(kGdcmPlugin) : std::string())
    << (pg ? ", " + Q(kPgIndexPlugin) + ", " + Q(kPgStoragePlugin) : std::string()) << "],\n\n";
  if (pg) {
    j << "  // A node of a cluster (docs/installation.md, Two nodes on one PostgreSQL): Orthanc's index and\n"
         "  // files in PostgreSQL (package orthanc-postgresql), shared with the other nodes. \"Lock\": false\n"
         "  // lets several Orthancs write one database; DatabaseServerIdentifier differs per node. This file\n"
         "  // holds the database password: keep it readable by Orthanc's user only (written mode 0600).\n"
         "  \"DatabaseServerIdentifier\": "
      << Q(node_name) << ",\n  \"PostgreSQL\": {\n    \"EnableIndex\": true,\n    \"EnableStorage\": true,\n"
      << "    \"Lock\": false,\n    \"Host\": " << Q(pg->host) << ",\n    \"Port\": " << pg->port
      << ",\n    \"Database\": " << Q(pg->database) << ",\n    \"Username\": " << Q(pg->user)
      << ",\n    \"Password\": " << Q(pg_password) << ",\n    \"IndexConnectionsCount\": 1\n  },\n\n";
  }
  // Who may send: Orthanc parses what it receives with DCMTK 3.6.7, whose recursive parser a hostile
  // file can crash (docs/reliability.md); with these settings an unknown caller is refused when it
  // asks for the association, before any dataset is read.
  if (open_store) {
    j << "  // OPEN (--allow-any-store): any AE title from any address may send studies. For trials only: a\n"
         "  // file crafted to crash DCMTK's parser stops this Orthanc (docs/reliability.md).\n"
         "  \"DicomAlwaysAllowEcho\": true,\n"
         "  \"DicomAlwaysAllowStore\": true,\n"
         "  \"DicomCheckModalityHost\": false,\n\n";
  } else {
    j << "  // Who may send studies: only the modalities listed in DicomModalities, each from its own address\n"
         "  // (Orthanc compares Host with the caller's IP address, so write addresses, not host names). Any\n"
         "  // other caller is refused when it asks for the association, before Orthanc reads a dataset:\n"
         "  // Orthanc parses received files with DCMTK 3.6.7, which a hostile file can crash\n"
         "  // (docs/installation.md, docs/reliability.md). Echo, find, get and move are refused to unknown\n"
         "  // callers too (Orthanc accepts an association from anyone while any of these is true).\n"
         "  \"DicomAlwaysAllowEcho\": false,\n"
         "  \"DicomAlwaysAllowStore\": false,\n"
         "  \"DicomAlwaysAllowFind\": false,\n"
         "  \"DicomAlwaysAllowFindWorklist\": false,\n"
         "  \"DicomAlwaysAllowGet\": false,\n"
         "  \"DicomAlwaysAllowMove\": false,\n"
         "  \"DicomCheckModalityHost\": true,\n\n";
  }
  j << "  // The DICOM peers the node knows, by name: rules send results to these names (Destinations)";
  j << (open_store ? ".\n" : ", and\n  // only these may send studies to the node (their \"AllowStore\", true by default).\n");
  std::vector<std::string> names = {"pacs"};
  std::vector<std::pair<std::string, Peer>> modalities;
  if (pacs) modalities.emplace_back("pacs", *pacs);
  for (const Peer& sender : senders) modalities.emplace_back(ModalityName(sender.aet, names), sender);
  if (modalities.empty()) {
    j << "  // None yet: add one, e.g. \"pacs\": {\"AET\": \"PACS\", \"Host\": \"10.0.0.5\", \"Port\": 104}"
      << (open_store ? ".\n" : ",\n  // and one entry per modality that sends studies (`curia init --allow-store AET@ADDRESS`).\n")
      << "  \"DicomModalities\": {},\n\n";
  } else {
    j << "  \"DicomModalities\": {\n";
    for (size_t i = 0; i < modalities.size(); ++i) {
      const auto& [name, m] = modalities[i];
      if (name != "pacs" && (i == 0 || modalities[i - 1].first == "pacs")) {
        j << "    // Modalities that send studies (--allow-store); Port is where the node would send to them (unused).\n";
      }
      j << "    " << Q(name) << ": {\"AET\": " << Q(m.aet) << ", \"Host\": " << Q(m.host) << ", \"Port\": " << m.port << "}"
        << (i + 1 < modalities.size() ? ",\n" : "\n");
    }
    j << "  },\n\n";
  }
  for (const auto& [name, m] : modalities) {
    if (!open_store && !IsIpAddress(m.host)) {
      notes.push_back("warning: " + name + " (" + m.aet + ") has the host name '" + m.host + "': Orthanc compares it with "
                      "the caller's IP address, so " + m.aet + " cannot send studies to the node; write its address");
    }
  }
  if (open_store) {
    notes.push_back("warning: --allow-any-store: any AE title from any address may send studies to the node; a file "
                    "crafted to crash DCMTK's parser stops Orthanc (docs/reliability.md). Use --allow-store in production.");
  } else if (modalities.empty()) {
    notes.push_back("note: no modality may send studies yet: add each with --allow-store AET@ADDRESS (or to "
                    "DicomModalities); an unknown caller's association is refused");
  }
  j << "  // Curia Node's own section (README.md, docs/node-setup.md).\n"
       "  \"Curia\": {\n"
    << (pg ? "    // The durable queue, results and audit trail, shared by the cluster's nodes (schema \"curia\");\n"
             "    // libpq reads the password from the password file (mode 0600).\n"
           : "    // The durable queue, results and audit trail (SQLite).\n")
    << "    \"Database\": "
    << Q(pg ? "postgresql://" + pg->user + "@" + (pg->host.find(':') != std::string::npos ? "[" + pg->host + "]" : pg->host) +
                  ":" + std::to_string(pg->port) + "/" + pg->database + "?passfile=" + out + "/curia.pgpass"
            : out + "/curia.sqlite")
    << ",\n"
    << (node_name.empty() ? std::string()
                          : "    // This node's name: /curia/jobs and the audit trail say which node ran what.\n"
                            "    \"NodeName\": " + Q(node_name) + ",\n")
    << (role == "all" ? std::string()
                      : "    // What this node does in the cluster: \"ingest\" receives and routes studies and runs no job;\n"
                        "    // \"work\" runs jobs and has no DICOM listener (docs/installation.md).\n"
                        "    \"Role\": " + Q(role) + ",\n")
    << ""
       "    // Route a study when it is stable (\"series\": each series when it is stable).\n"
       "    \"Trigger\": \"study\",\n"
       "    // The backbone folder (config.json, model.safetensors, heads in subfolders) and where it runs:\n"
       "    // [\"cuda\"] (or [\"cuda:0\", \"cuda:1\"]) on a machine with NVIDIA GPUs.\n";
  if (demo) {
    j << "    // DEMO model: random weights in Curia's layout. Its findings are MEANINGLESS.\n";
  }
  j << "    \"Model\": {\"Path\": " << Q(model_dir) << ", \"Devices\": [\"cpu\"]},\n";
  if (demo) {
    j << "    // What the model reports: each task is a head (a subfolder of Model.Path) and how its output\n"
         "    // becomes a finding. These DEMO tasks name the demo model's heads: they are valid only with it.\n"
         "    \"Tasks\": "
      << NestedInFileOrder(demo_tasks, 4)
      << ",\n"
         "    // Which studies are analysed, by which tasks, and where the results go; the first rule that\n"
         "    // matches wins. This one sends every CT and MR study to every task.\n"
         "    \"Rules\": [\n"
         "      {\n"
         "        \"Name\": \"ct-and-mr\",\n"
         "        \"Priority\": \"routine\",\n"
         "        \"Match\": {\"Tag\": \"Modality\", \"In\": [\"CT\", \"MR\"]},\n"
         "        \"Tasks\": [";
    for (size_t i = 0; i < task_names.size(); ++i) j << (i ? ", " : "") << Q(task_names[i]);
    j << "],\n"
         "        // SR: a TID 1500 Structured Report; SC: Secondary Capture key images.\n"
         "        \"Outputs\": [\"SR\", \"SC\"]";
    if (pacs) {
      j << ",\n        // Names in DicomModalities the results are sent to.\n"
           "        \"Destinations\": [\"pacs\"]\n";
    } else {
      j << "\n        // No \"Destinations\": the results are not sent anywhere. Add a DicomModalities entry and\n"
           "        // \"Destinations\": [\"<its name>\"] to send them to a PACS.\n";
    }
    j << "      }\n"
         "    ],\n"
         "    // Results as DICOM: a key image for every finding (not only present ones), with the heat map.\n"
         "    \"Dicom\": {\"KeyImages\": \"all\", \"HeatMap\": true}\n";
  } else {
    j << "    // What the model reports: add one task per head you use, for example (README.md, Tasks):\n"
         "    //   \"ich\": {\"Head\": \"ich\", \"Class\": 1, \"Aggregate\": \"max\", \"Threshold\": 0.5,\n"
         "    //           \"Finding\": {\"Code\": \"50960005\", \"Scheme\": \"SCT\", \"Meaning\": \"Hemorrhage\"}}\n"
         "    // Until there is a task and a rule, the node receives studies but analyses none.\n"
         "    \"Tasks\": {},\n"
         "    // Which studies are analysed, by which tasks, and where the results go; add rules once\n"
         "    // there are tasks, for example:\n"
         "    //   {\"Name\": \"ct-and-mr\", \"Priority\": \"routine\",\n"
         "    //    \"Match\": {\"Tag\": \"Modality\", \"In\": [\"CT\", \"MR\"]},\n"
         "    //    \"Tasks\": [\"ich\"], \"Outputs\": [\"SR\", \"SC\"]"
      << (pacs ? ", \"Destinations\": [\"pacs\"]" : "")
      << "}\n"
         "    \"Rules\": [],\n"
         "    // Results as DICOM: key images for present findings only, no heat map (the defaults).\n"
         "    \"Dicom\": {\"KeyImages\": \"positive\", \"HeatMap\": false}\n";
  }
  j << "  }\n}\n";
  const std::string text = j.str();

  // What is written must be what the node accepts: JSON with comments as Orthanc reads it, and a
  // Curia section our own parser takes.
  const config::Json doc = config::ParseJson(text, config_path, config::JsonDialect::kOrthanc);
  config::ParseCuriaSettings(doc, config_path, out);
  // With a password in it (--postgresql), readable by its owner only, as is the password file.
  const mode_t old_mask = umask(077);
  if (!pg) umask(old_mask);
  try {
    config::WriteFileAtomic(config_path, {text});
    if (pg) {
      config::WriteFileAtomic(out + "/curia.pgpass", {PgPassField(pg->host) + ":" + std::to_string(pg->port) + ":" +
                                                      PgPassField(pg->database) + ":" + PgPassField(pg->user) + ":" +
                                                      PgPassField(pg_password) + "\n"});
    }
  } catch (...) {
    umask(old_mask);
    throw;
  }
  umask(old_mask);

  // A sender on this machine, for README's storescu line.
  const Peer* local = nullptr;
  for (const Peer& sender : senders) {
    if (!local && sender.host == "127.0.0.1") local = &sender;
  }
  std::ostringstream readme;
  readme << "Curia Node " CURIA_VERSION_STRING " - written by `curia init`. RESEARCH USE ONLY - NOT FOR CLINICAL USE.\n\n"
         << "Start the node (stop it with Ctrl-C, or kill -TERM its pid):\n\n"
         << "  TCP_NODELAY=1 Orthanc " << config_path << "\n\n"
         << "TCP_NODELAY=1 turns off Nagle's algorithm in DCMTK (Orthanc's DICOM library): without it DICOM\n"
         << "transfers are about ten times slower. Set it for every Orthanc and DCMTK tool you run.\n\n"
         << "Send it a study (any CT or MR series; `curia phantom --out DIR` writes a synthetic one):\n\n"
         << "  TCP_NODELAY=1 storescu " << (local ? "-aet " + local->aet + " " : std::string()) << "-aec " << aet
         << " 127.0.0.1 " << dicom_port << " DIR/*\n\n"
         << (local || open_store
                 ? std::string()
                 : "Only the modalities listed in DicomModalities may send studies: storescu on this machine is refused\n"
                   "until one is listed for 127.0.0.1, e.g. `curia init --force ... --allow-store STORESCU@127.0.0.1`.\n\n")
         << "About " << 5 << " seconds after the last image the study is routed and queued. Watch it:\n\n"
         << "  http://127.0.0.1:" << http_port << "/app/explorer.html   Orthanc Explorer\n"
         << "  http://127.0.0.1:" << http_port << "/curia/jobs          the node's jobs (JSON)\n"
         << "  http://127.0.0.1:" << http_port << "/curia/health        model, queue, database\n\n"
         << (pacs ? "Results (an SR and key images per analysed series) are sent to " + pacs->aet + " at " +
                        pacs->host + ":" + std::to_string(pacs->port) + ".\n\n"
                  : std::string("No PACS is configured: results are not sent anywhere (see DicomModalities and\n"
                                "Destinations in orthanc.json).\n\n"))
         << (demo ? "DEMO model (" + model_dir + "): random weights, the findings are MEANINGLESS.\n\n" : std::string())
         << "Files here:\n"
         << "  orthanc.json   the configuration; every key is explained in its comments and in docs/node-setup.md\n"
         << "  storage/       received DICOM files (Orthanc), index/ Orthanc's index\n"
         << (pg ? "  curia.pgpass   the password of the cluster's database (libpq password file, mode 0600)\n"
                : "  curia.sqlite   the node's queue, results and audit trail\n")
         << (p.Has("--model") ? "" : "  demo-model/    the DEMO model\n");
  config::WriteFileAtomic(out + "/README.txt", {readme.str()});

  std::string accepted;
  if (pacs) accepted = pacs->aet + "@" + pacs->host;
  for (const Peer& sender : senders) accepted += (accepted.empty() ? "" : ", ") + sender.aet + "@" + sender.host;
  if (open_store) accepted = "ANY caller (--allow-any-store)";
  if (accepted.empty()) accepted = "no one yet (--allow-store)";
  std::cout << "wrote " << config_path << "\n"
            << "wrote " << out << "/README.txt\n"
            << "  DICOM " << aet << " on port " << dicom_port << ", HTTP http://127.0.0.1:" << http_port << "/\n"
            << "  studies accepted from " << accepted << "\n  results to " << (pacs ? pacs->aet + "@" + pacs->host + ":" + std::to_string(pacs->port) : "nowhere (no --pacs)")
            << (pg ? "\n  cluster node " + node_name + ", database postgresql://" + pg->host + ":" + std::to_string(pg->port) +
                         "/" + pg->database + " as " + pg->user + " (password from " + p.Get("--password-file") + ")"
                   : std::string())
            << "\n  model " << model_dir << (demo ? " (DEMO: meaningless findings)" : "") << "\n"
            << "  plugin " << plugin << (gdcm ? std::string(" and ") + kGdcmPlugin : std::string())
            << (pg ? std::string(" and orthanc-postgresql's ") + kPgIndexPlugin + ", " + kPgStoragePlugin : std::string())
            << "\n";
  if (!demo) {
    std::cout << "  no tasks or rules yet: add them to the \"Curia\" section (see the comments in orthanc.json)\n";
  }
  for (const std::string& n : notes) std::cout << n << "\n";
  if (!plugin_exists) {
    std::cout << "warning: the plugin " << plugin << " does not exist (yet): build it (cmake --build build) or pass "
              << "--plugin: Orthanc starts without it (logging \"Inexistent path to plugins\") and the node does nothing\n";
  }
  std::cout << "start it with:  TCP_NODELAY=1 Orthanc " << config_path << "\n";
  return 0;
}

}  // namespace curia::cli
