#!/usr/bin/env bash
# Fetches the sample photos that Debian's darknet package ships, for the ResNet-50 pretrained check.
# Only the .deb is downloaded and unpacked (installing darknet would pull in OpenCV).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${PADIM_TEST_PHOTOS:-$repo_root/.cache/test-photos}"

if compgen -G "$dest/*.jpg" > /dev/null; then
  echo "test photos already present in $dest ($(ls "$dest"/*.jpg | wc -l) files); nothing to do"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "downloading the darknet .deb into $work"
# apt's sandbox user cannot write into a root-owned mktemp dir; make it readable/writable for it.
chmod 0777 "$work"
# A fresh machine may have no package lists yet: update them once, then retry.
if ! (cd "$work" && apt-get download darknet); then
  echo "apt-get download failed; updating the package lists and retrying"
  apt-get update -qq
  (cd "$work" && apt-get download darknet)
fi
deb="$(ls "$work"/darknet_*.deb | head -n 1)"
echo "unpacking $(basename "$deb")"
dpkg -x "$deb" "$work/root"

src="$work/root/usr/share/darknet/data"
if ! compgen -G "$src/*.jpg" > /dev/null; then
  echo "error: no .jpg files in $src inside $(basename "$deb")" >&2
  exit 1
fi
mkdir -p "$dest"
cp "$src"/*.jpg "$dest"/
echo "copied to $dest: $(cd "$dest" && ls *.jpg | tr '\n' ' ')"
