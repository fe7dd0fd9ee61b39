#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The Debian package: builds it with cpack from the build tree, checks its contents and control
# fields, then (as root, with /usr/sbin/Orthanc present, unless CURIA_PACKAGE_INSTALL_TEST=0)
# installs it with dpkg, enables the packaged configuration as docs/installation.md says, starts
# /usr/sbin/Orthanc with it and the DEMO model the postinst wrote, sends a phantom study, waits for
# the SR at a PACS Orthanc, stops everything and purges the package (the machine is left as it was:
# a curia-node package installed before the test is refused rather than replaced).
#
#   tests/package/package_test.sh BUILD_DIR
#
# CURIA_PACKAGE_INSTALL_TEST=1 makes the install part mandatory (fails when not root or no
# Orthanc), 0 skips it; unset: run it when possible.
set -euo pipefail

build=$(cd "${1:?usage: package_test.sh BUILD_DIR}" && pwd)
fail() { echo "package_test: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

# --- 1. Build and inspect the package ------------------------------------------------------------
step "cpack -G DEB in $build"
rm -f "$build"/curia-node_*.deb
(cd "$build" && cpack -G DEB >"$build/cpack.log" 2>&1) || { tail -30 "$build/cpack.log" >&2; fail "cpack failed"; }
debs=("$build"/curia-node_*.deb)
[ ${#debs[@]} = 1 ] && [ -f "${debs[0]}" ] || fail "expected one curia-node_*.deb in $build"
deb=${debs[0]}
echo "package: $deb"

contents=$(dpkg-deb -c "$deb")
has() { grep -qE "$1" <<<"$contents" || fail "the package lacks $2 (dpkg-deb -c)"; }
has ' \./usr/lib/orthanc/libOrthancCuriaNode\.so\.[0-9.]+$' "the plugin in /usr/lib/orthanc"
has '^l.* \./usr/share/orthanc/plugins/libOrthancCuriaNode\.so -> \.\./\.\./\.\./lib/orthanc/libOrthancCuriaNode\.so\.[0-9.]+$' \
  "the plugin symlink in /usr/share/orthanc/plugins"
has '^-rwxr-xr-x .* \./usr/bin/curia$' "the curia tool in /usr/bin"
has ' \./etc/orthanc/curia-node\.json$' "the example configuration"
has ' \./lib/systemd/system/orthanc\.service\.d/curia-node\.conf$' "the orthanc service drop-in"
for doc in README.md copyright changelog.Debian.gz installation.md configuration.md routing-cookbook.md \
           real-weights.md troubleshooting.md; do
  has " \./usr/share/doc/curia-node/$doc\$" "/usr/share/doc/curia-node/$doc"
done

field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = curia-node ] || fail "Package is '$(field Package)'"
version=$(field Version)
project_version=$(sed -n 's/^project(CuriaNode VERSION \([0-9.]*\).*/\1/p' "$(dirname "$0")/../../CMakeLists.txt")
[[ "$version" == "$project_version"-* ]] || fail "Version $version does not start with the project's $project_version"
depends=$(field Depends)
for dep in 'orthanc \(>= 1\.10\.1\)' 'libopenblas0-openmp \| libopenblas0' 'libtorch1\.13' 'libdcmtk17' 'libopenjp2-7' \
           'libsqlite3-0' 'libstdc\+\+6'; do
  grep -qE "(^|, )$dep" <<<"$depends" || fail "Depends lacks $dep: $depends"
done
# Orthanc's GDCM plugin: its own JPEG 2000 previews and transcoding (the node decodes JPEG 2000 itself).
grep -qE '(^|, )orthanc-gdcm' <<<"$(field Recommends)" || fail "Recommends lacks orthanc-gdcm: $(field Recommends)"
[ -n "$(field Maintainer)" ] || fail "no Maintainer"
grep -q 'RESEARCH USE ONLY' <<<"$(field Description)" || fail "the Description does not say RESEARCH USE ONLY"
dpkg-deb -I "$deb" conffiles | grep -qx '/etc/orthanc/curia-node.json' || fail "curia-node.json is not a conffile"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work/root"
# The example is inert as shipped (no "Curia" key: the plugin stays idle)...
grep -q '"CuriaDisabled"' "$work/root/etc/orthanc/curia-node.json" || fail "the example has no CuriaDisabled section"
grep -q '^\s*"Curia"\s*:' "$work/root/etc/orthanc/curia-node.json" && fail "the example configuration is not inert"
# ...and the changelog comes from CHANGELOG.md, with the package's version on top.
zcat "$work/root/usr/share/doc/curia-node/changelog.Debian.gz" >"$work/changelog"
[ "$(dpkg-parsechangelog -l "$work/changelog" -S Version)" = "$version" ] || fail "changelog.Debian.gz is not for $version"
grep -q 'Routing rules' "$work/changelog" || fail "changelog.Debian.gz does not hold CHANGELOG.md's entries"
echo "contents, control fields, conffiles and changelog: ok ($(field Depends))"

# --- 2. Install, run, purge ----------------------------------------------------------------------
mode=${CURIA_PACKAGE_INSTALL_TEST:-auto}
can=1
why=""
[ "$(id -u)" = 0 ] || { can=0; why="not root"; }
[ -x /usr/sbin/Orthanc ] || { can=0; why="no /usr/sbin/Orthanc"; }
command -v storescu >/dev/null || { can=0; why="no storescu (dcmtk)"; }
if [ "$mode" = 0 ]; then
  echo "install test skipped (CURIA_PACKAGE_INSTALL_TEST=0)"
  exit 0
fi
if [ "$can" = 0 ]; then
  [ "$mode" = 1 ] && fail "CURIA_PACKAGE_INSTALL_TEST=1 but $why"
  echo "install test skipped ($why; it needs root and Debian's orthanc and dcmtk packages)"
  exit 0
fi
if dpkg-query -W -f='${Status}' curia-node 2>/dev/null | grep -q 'installed'; then
  fail "curia-node is already installed on this machine; the test would replace it (dpkg -P curia-node first)"
fi
[ -e /var/lib/curia/demo-model ] && fail "/var/lib/curia/demo-model exists; the package's purge would remove it (move it away first)"
had_demo=0
[ -e /var/lib/curia ] && had_demo=1

pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if dpkg-query -W -f='${Status}' curia-node 2>/dev/null | grep -q 'installed'; then
    dpkg -P curia-node >"$work/purge.log" 2>&1 || cat "$work/purge.log" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT

step "dpkg -i $(basename "$deb")"
dpkg -i "$deb" >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; fail "dpkg -i failed"; }
[ -f /var/lib/curia/demo-model/config.json ] || { cat "$work/install.log" >&2; fail "the postinst did not write the demo model"; }
[ -x /usr/bin/curia ] && [ -e /usr/share/orthanc/plugins/libOrthancCuriaNode.so ] || fail "installed files missing"
/usr/bin/curia version

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
pacs_http=$(free_port); pacs_dicom=$(free_port); node_http=$(free_port); node_dicom=$(free_port)

# The PACS: a plain Orthanc.
mkdir -p "$work/pacs" "$work/node"
cat >"$work/pacs/orthanc.json" <<EOF
{ "Name": "PACS", "StorageDirectory": "$work/pacs/db", "IndexDirectory": "$work/pacs/db",
  "DicomAet": "PACS", "DicomPort": $pacs_dicom, "HttpPort": $pacs_http, "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false, "Plugins": [] }
EOF
# The node: a configuration folder as the Debian service has it (/etc/orthanc): an orthanc.json
# with the PACS in DicomModalities, and the packaged curia-node.json enabled as the docs say
# (CuriaDisabled -> Curia) with the rule's Destinations line uncommented.
cat >"$work/node/orthanc.json" <<EOF
{ "Name": "Curia Node (package test)", "StorageDirectory": "$work/node/db", "IndexDirectory": "$work/node/db",
  "DicomAet": "CURIA", "DicomPort": $node_dicom, "HttpPort": $node_http, "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false, "StableAge": 2,
  "Plugins": ["/usr/share/orthanc/plugins/libOrthancCuriaNode.so"],
  "DicomModalities": { "pacs": ["PACS", "127.0.0.1", $pacs_dicom] } }
EOF
sed -e 's/"CuriaDisabled"/"Curia"/' -e 's|// "Destinations": \["pacs"\],|"Destinations": ["pacs"],|' \
  /etc/orthanc/curia-node.json >"$work/node/curia-node.json"
grep -q '^ *"Destinations": \["pacs"\],' "$work/node/curia-node.json" || fail "could not enable the Destinations line"

step "curia validate-config on the enabled configuration folder"
/usr/bin/curia validate-config "$work/node" || fail "validate-config refuses the enabled packaged configuration"

start() {  # NAME CONFIG HTTP_PORT
  TCP_NODELAY=1 /usr/sbin/Orthanc "$2" >"$work/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$3/system" >/dev/null 2>&1 && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || { tail -30 "$work/$1.log" >&2; fail "the $1 Orthanc exited"; }
    sleep 0.5
  done
  tail -30 "$work/$1.log" >&2
  fail "the $1 Orthanc did not answer"
}
step "starting the PACS and the node (/usr/sbin/Orthanc $work/node)"
start pacs "$work/pacs/orthanc.json" "$pacs_http"
start node "$work/node" "$node_http"
health=$(curl -sf "http://127.0.0.1:$node_http/curia/health") || { tail -30 "$work/node.log" >&2; fail "GET /curia/health fails: the plugin is not running"; }
echo "node health: $health"

step "sending a phantom study"
/usr/bin/curia phantom --out "$work/phantom" --slices 8 --seed 7 >"$work/phantom.log"
study=$(awk '/Study Instance UID/ {print $NF}' "$work/phantom.log")
TCP_NODELAY=1 storescu -aec CURIA 127.0.0.1 "$node_dicom" "$work/phantom"/*.dcm || fail "storescu failed"

step "waiting for the SR at the PACS"
sr=""
for _ in $(seq 1 180); do
  sr=$(curl -sf -X POST "http://127.0.0.1:$pacs_http/tools/find" \
         -d "{\"Level\": \"Series\", \"Query\": {\"StudyInstanceUID\": \"$study\", \"Modality\": \"SR\"}}" || true)
  [ -n "$sr" ] && [ "$sr" != "[]" ] && break
  kill -0 "${pids[1]}" 2>/dev/null || { tail -30 "$work/node.log" >&2; fail "the node Orthanc stopped"; }
  sleep 0.5
done
if [ -z "$sr" ] || [ "$sr" = "[]" ]; then
  curl -s "http://127.0.0.1:$node_http/curia/jobs" >&2 || true
  tail -30 "$work/node.log" >&2
  fail "no SR of study $study at the PACS after 90 s"
fi
echo "SR series at the PACS: $sr"

step "stopping and purging"
cleanup_pids=("${pids[@]}")
pids=()
for pid in "${cleanup_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${cleanup_pids[@]}"; do
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && fail "an Orthanc did not stop within 15 s of SIGTERM"
done
dpkg -P curia-node >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; fail "dpkg -P failed"; }
[ ! -e /usr/bin/curia ] && [ ! -e /usr/share/orthanc/plugins/libOrthancCuriaNode.so ] && [ ! -e /etc/orthanc/curia-node.json ] \
  || fail "files left after dpkg -P"
if [ "$had_demo" = 0 ] && [ -e /var/lib/curia ]; then fail "/var/lib/curia left after dpkg -P"; fi
echo "package test: ok"
