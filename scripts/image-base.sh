#!/usr/bin/env bash
# The image test's base image, made here since no image can be pulled: a Debian bookworm minbase
# (debootstrap, from the Debian mirror apt already uses), this machine's node and npm in /usr/local,
# the system CA bundle, npm's global config as /usr/local/etc/npmrc (so npm inside the build reaches
# the registry the way it does here) and a `node` user with uid 1000, as in the official Node image.
# Imported with `podman import`; kept between runs under a tag made of the node version and this
# script's hash, so a second run reuses it. Prints the tag on its last line.
# Needs root; installs debootstrap and podman with apt-get when they are missing.
set -euo pipefail

node_version=$(node --version)
script_hash=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)
tag="localhost/vending-orders-test-base:node-${node_version#v}-${script_hash}"

missing=()
command -v podman >/dev/null || missing+=(podman)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}" >&2
  apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2
fi

if podman image exists "$tag"; then
  echo "base image $tag exists" >&2
  echo "$tag"
  exit 0
fi

# the first mirror apt lists for bookworm itself (not bookworm-security): deb822 .sources files, then sources.list
mirror=""
for file in /etc/apt/sources.list.d/*.sources; do
  [ -f "$file" ] || continue
  mirror=$(awk '
    BEGIN { RS = ""; FS = "\n" }
    {
      uris = ""; suites = ""; types = ""
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris) }
        if ($i ~ /^Suites:/) { suites = " " $i " " }
        if ($i ~ /^Types:/) { types = " " $i " " }
      }
      if (types ~ / deb / && suites ~ /[ \t]bookworm[ \t]/) { split(uris, list, /[ \t]+/); print list[1]; exit }
    }' "$file")
  [ -n "$mirror" ] && break
done
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { if ($(i + 1) == "bookworm") { print $i; exit } else break } }' || true)
fi
[ -n "$mirror" ] || { echo "no bookworm mirror in /etc/apt/sources.list or /etc/apt/sources.list.d" >&2; exit 1; }

work=$(mktemp -d /tmp/vending-orders-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

echo "debootstrap --variant=minbase bookworm from $mirror" >&2
debootstrap --variant=minbase bookworm "$root" "$mirror" >&2

# node, and npm where node looks for it by its own location (npm's prefix is then /usr/local)
node_bin=$(command -v node)
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
install -D -m 0755 "$(readlink -f "$node_bin")" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"

# the CA bundle this machine trusts, and npm's global config (registry, cafile) as npm here reads it
mkdir -p "$root/etc/ssl/certs" "$root/usr/local/etc"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
globalconfig=$(npm config get globalconfig)
if [ -f "$globalconfig" ]; then cp "$globalconfig" "$root/usr/local/etc/npmrc"; else : > "$root/usr/local/etc/npmrc"; fi
registry=$(npm config get registry)
grep -q '^registry' "$root/usr/local/etc/npmrc" || echo "registry=$registry" >> "$root/usr/local/etc/npmrc"

# the official image's user: node, uid and gid 1000, home /home/node
echo 'node:x:1000:' >> "$root/etc/group"
echo 'node:x:1000:1000::/home/node:/bin/bash' >> "$root/etc/passwd"
echo 'node:*:19000:0:99999:7:::' >> "$root/etc/shadow"
install -d -o 1000 -g 1000 -m 0755 "$root/home/node"

# what an image does not need
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*

# node and npm run in the new root, with none of this shell's environment (a test runner's NODE_OPTIONS)
chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin node --version >&2
chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp npm --version >&2
tar -C "$root" --numeric-owner -c . | podman import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=${node_version#v}" \
  --change 'CMD ["node"]' \
  - "$tag" >&2
echo "$tag"
