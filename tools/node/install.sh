#!/usr/bin/env bash
# The node cluster's Debian packages (tests/e2e/cluster, `make cluster`): runc, the CNI plugins, iptables for
# kube-proxy, tini as the node's init, and buildah + mmdebstrap + busybox-static for its images.
# Installs what is missing with apt-get when root; otherwise says what is missing (the node tests then skip,
# except under CI=true, where they fail) and exits 0 so `make test` still runs the rest.
set -euo pipefail

packages=(buildah mmdebstrap busybox-static containernetworking-plugins runc iptables tini iproute2 util-linux)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "node-tools: missing ${missing[*]} (apt-get install them as root); the node tests need root anyway" >&2
  exit 0
fi
echo "node-tools: apt-get install ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
