#!/usr/bin/env bash
# Installs the Debian packages splat needs to build and test, on Debian 12
# (bookworm) or later. Mesa's lavapipe comes from <codename>-backports when
# that suite is available: Mesa 25 is about twice as fast as Debian 12's Mesa 22
# and lifts its 2 GiB heap limit.
#
# The backports entry is derived from the system's own Debian source entry
# (same mirror, components and keyring), so no package host is named here.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

. /etc/os-release
codename="${VERSION_CODENAME:-bookworm}"
target=/etc/apt/sources.list.d/splat-backports.sources

derive_backports() {
  # deb822 files first (Debian 12 default), then one-line sources.list files.
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    [ "$f" = "$target" ] && continue
    # Print the first stanza whose Suites names the release codename itself.
    awk -v cn="$codename" '
      BEGIN { RS=""; FS="\n" }
      {
        uris=""; comps=""; signed=""; types=""; hit=0
        for (i = 1; i <= NF; i++) {
          line = $i
          if (line ~ /^URIs:/)       { uris = line }
          if (line ~ /^Components:/) { comps = line }
          if (line ~ /^Signed-By:/)  { signed = line }
          if (line ~ /^Types:/)      { types = line }
          if (line ~ /^Suites:/) {
            n = split(substr(line, 8), s, /[ \t]+/)
            for (j = 1; j <= n; j++) if (s[j] == cn) hit = 1
          }
        }
        if (hit && uris != "") {
          print types; print uris
          print "Suites: " cn "-backports"
          print comps
          if (signed != "") print signed
          exit 0
        }
      }' "$f" && return 0
  done
  local l
  for l in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$l" ] || continue
    awk -v cn="$codename" '
      $1 == "deb" {
        # deb [opts] URI suite components...
        k = 2; if ($2 ~ /^\[/) { while ($k !~ /\]$/) k++; k++ }
        if ($(k + 1) == cn) {
          printf "Types: deb\nURIs: %s\nSuites: %s-backports\nComponents:", $k, cn
          for (m = k + 2; m <= NF; m++) printf " %s", $m
          printf "\n"; exit 0
        }
      }' "$l"
  done
}

if [ ! -f "$target" ]; then
  entry="$(derive_backports | awk 'NF' | head -n 6)"
  if printf '%s\n' "$entry" | grep -q '^URIs:'; then
    printf '%s\n' "$entry" | $SUDO tee "$target" >/dev/null
    echo "install-deps: enabled ${codename}-backports from the system's Debian source entry" >&2
  else
    echo "install-deps: no Debian source entry for '$codename' found; using the default Mesa" >&2
  fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q

# Mesa (lavapipe) from backports when the suite is there; plain otherwise.
mesa="mesa-vulkan-drivers"
policy="$(apt-cache policy mesa-vulkan-drivers)"
if [[ "$policy" == *"${codename}-backports"* ]]; then
  mesa_opt=(-t "${codename}-backports")
else
  mesa_opt=()
fi
$SUDO apt-get install -y -q --no-install-recommends "${mesa_opt[@]}" "$mesa"

$SUDO apt-get install -y -q --no-install-recommends \
  libvulkan-dev vulkan-validationlayers vulkan-tools \
  glslc spirv-tools \
  libpng-dev libturbojpeg0-dev libjpeg62-turbo-dev zlib1g-dev \
  libglfw3-dev libglvnd0 libegl1 pkg-config xz-utils \
  xvfb xauth
