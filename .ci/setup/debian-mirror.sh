#!/usr/bin/env bash
# Prints the Debian archive URI this machine's apt already uses (the first one of its sources
# that serves the main archive, not the security one), so that debootstrap and the stand-in
# images fetch from the same place as the host, and no mirror host is written in the project.
# Prints nothing and exits 1 when the sources name none; callers then leave the choice to
# debootstrap's own default.
set -uo pipefail
shopt -s nullglob
deb822=(/etc/apt/sources.list.d/*.sources)
oneline=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do [[ -r $f ]] && oneline+=("$f"); done
uris=$(
  if ((${#deb822[@]})); then awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' "${deb822[@]}"; fi
  if ((${#oneline[@]})); then
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; break } }' "${oneline[@]}"
  fi
)
uri=$(grep -v -- '-security' <<<"$uris" | grep -E '^(https?|file)://' | head -n 1 | sed 's:/*$::')
[[ -n $uri ]] || exit 1
printf '%s\n' "$uri"
