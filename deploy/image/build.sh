#!/usr/bin/env bash
# ./dev image: the OCI image archive dist/resetbot-VERSION.oci.tar (image name resetbot:VERSION), built
# with no container daemon and no registry (docs/CONTRACT.md "Install and entry point"):
#   1. on this machine: the project's wheel, the wheels requirements/runtime.lock pins and pip's
#      (requirements/pip.lock), hash-checked;
#   2. mmdebstrap: a Debian bookworm root filesystem (minbase, python3 = 3.11, ca-certificates) in which
#      deploy/image/install.sh makes the venv /opt/resetbot from those wheels, with no network, and the user
#      resetbot (uid/gid 10001) owning /var/lib/resetbot (0700);
#   3. umoci: that tarball as the one layer of an OCI image, its config (user, entrypoint, env, labels);
#      then the layout tarred into the archive. It prints the archive's size and the layer's digest.
# Reproducible: SOURCE_DATE_EPOCH (default: the last commit's time) pins every timestamp (mmdebstrap clamps
# the files' mtimes, the config's `created`, the layer's one history entry), and the byte code is hash-based;
# the same tree against the same Debian archive gives the same layer digest.
# Root only (mmdebstrap's root mode; the layer holds files of several owners). Installs mmdebstrap and umoci
# with apt-get when they are missing. Options: --out DIR (default dist).
# Environment: DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR (e.g. a snapshot, to rebuild the same image later).
set -euo pipefail
cd "$(dirname "$0")/../.."

out=dist
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    *) echo "image: unknown argument $1 (usage: ./dev image [--out DIR])" >&2; exit 2 ;;
  esac
done

MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
VENV=/opt/resetbot
HOME_DIR=/var/lib/resetbot

say() { echo "image: $*" >&2; }
quietly() {  # run a step; show what it printed only when it fails
  "$@" >"$work/step.log" 2>&1 || { grep -v '^WARNING: Location' "$work/step.log" >&2; return 1; }
}
started=$SECONDS

if [ "$(id -u)" != 0 ]; then
  say "needs root (mmdebstrap's root mode, files owned by root and by uid 10001): run it as root"
  exit 2
fi
if ! command -v mmdebstrap >/dev/null || ! command -v umoci >/dev/null; then
  if ! command -v apt-get >/dev/null; then
    say "needs mmdebstrap and umoci (Debian packages), and this machine has no apt-get to install them"
    exit 2
  fi
  say "installing mmdebstrap and umoci (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq mmdebstrap umoci >/dev/null
fi

host_python=.venv/bin/python
[ -x "$host_python" ] || host_python=${PYTHON:-python3}
version=$("$host_python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
revision=unknown
if git rev-parse --verify -q HEAD >/dev/null 2>&1; then
  revision=$(git rev-parse HEAD)
  # Built from the work tree: a change not committed yet to what goes into the image marks the revision.
  [ -z "$(git status --porcelain -- pyproject.toml README.md bot handlers storage devkit requirements deploy/image)" ] \
    || revision="$revision-dirty"
  : "${SOURCE_DATE_EPOCH:=$(git log -1 --format=%ct)}"
fi
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  say "not a git checkout: set SOURCE_DATE_EPOCH (seconds since 1970) to date the image"
  exit 2
fi
export SOURCE_DATE_EPOCH
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
source_url=${RESETBOT_IMAGE_SOURCE:-$(git remote get-url origin 2>/dev/null || true)}
case "$source_url" in https://*) source_url=$(echo "$source_url" | sed -E 's#https://[^/@]*@#https://#') ;; *) source_url= ;; esac

work=$(mktemp -d "${TMPDIR:-/tmp}/resetbot-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/wheels" "$work/src" "$out"

# 1. Wheels, on this machine (the image build has no network, and only this machine trusts the PyPI proxy).
step=$SECONDS
tar --exclude=__pycache__ -cf - pyproject.toml README.md bot handlers storage devkit | tar -xf - -C "$work/src"
quietly "$host_python" -m pip wheel --no-deps --no-cache-dir --disable-pip-version-check -w "$work/wheels" \
  "$work/src"
[ -f "$work/wheels/resetbot-$version-py3-none-any.whl" ] || { say "the project's wheel was not built"; exit 1; }
# requirements/pip.lock: the pip that installs the others inside the image, run from its wheel (none stays).
quietly "$host_python" -m pip download --no-deps --only-binary=:all: --require-hashes --no-cache-dir \
  --disable-pip-version-check -d "$work/wheels" -r requirements/runtime.lock -r requirements/pip.lock
cp requirements/runtime.lock deploy/image/install.sh "$work/wheels/"
say "wheels: $(ls "$work/wheels" | grep -c '\.whl$') ($(du -sh "$work/wheels" | cut -f1)) in $((SECONDS - step)) s"

# 2. The root filesystem: Debian bookworm, then install.sh chrooted into it.
step=$SECONDS
# merged-usr: /usr merged as bookworm wants it, by symlinks, instead of the usrmerge package (which needs perl).
mmdebstrap --quiet --variant=minbase --include=python3,ca-certificates --skip=output/dev \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --aptopt='Acquire::Languages "none"' \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --customize-hook="mkdir -p \"\$1/tmp/wheels\" && cp -a \"$work/wheels/.\" \"\$1/tmp/wheels/\"" \
  --customize-hook="chroot \"\$1\" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH \
      sh /tmp/wheels/install.sh /tmp/wheels" \
  --customize-hook='rm -f "$1/etc/resolv.conf" "$1/etc/hostname"' \
  bookworm "$work/rootfs.tar" \
  "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" "deb $SECURITY_MIRROR bookworm-security main" \
  >"$work/mmdebstrap.log" 2>&1 || { tail -n 40 "$work/mmdebstrap.log" >&2; say "mmdebstrap failed"; exit 1; }
say "root filesystem: $(du -h "$work/rootfs.tar" | cut -f1) in $((SECONDS - step)) s"

# 3. The OCI image: one layer (one history entry), the config; then the layout as one tar.
step=$SECONDS
layout="$work/oci"
umoci init --layout "$layout"
umoci new --image "$layout:$version"
umoci raw add-layer --image "$layout:$version" --history.created "$created" \
  --history.created_by "deploy/image/build.sh: mmdebstrap bookworm, deploy/image/install.sh" "$work/rootfs.tar"
labels=(
  "org.opencontainers.image.title=resetbot"
  "org.opencontainers.image.description=$("$host_python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["description"])')"
  "org.opencontainers.image.version=$version"
  "org.opencontainers.image.revision=$revision"
  "org.opencontainers.image.created=$created"
)
[ -z "$source_url" ] || labels+=("org.opencontainers.image.source=$source_url")
config=(
  --no-history --created "$created" --os linux --architecture "$(dpkg --print-architecture)"
  --config.user 10001:10001 --config.workingdir "$HOME_DIR"
  --config.entrypoint "$VENV/bin/resetbot" --config.cmd run --config.stopsignal SIGTERM
  --config.env "PATH=$VENV/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  --config.env LANG=C.UTF-8 --config.env PYTHONDONTWRITEBYTECODE=1
  --config.env "RESETBOT_HOME=$HOME_DIR" --config.env RESETBOT_HEALTH_HOST=0.0.0.0
)
for label in "${labels[@]}"; do config+=(--config.label "$label"); done
umoci config --image "$layout:$version" "${config[@]}"
umoci gc --layout "$layout"
# The image's name as podman, skopeo and containerd read it from an OCI archive (umoci's tags take no colon).
"$host_python" - "$layout/index.json" "resetbot:$version" <<'PY'
import json, sys
path, name = sys.argv[1], sys.argv[2]
index = json.load(open(path))
for manifest in index["manifests"]:
    manifest.setdefault("annotations", {})["org.opencontainers.image.ref.name"] = name
json.dump(index, open(path, "w"), separators=(",", ":"))
PY
archive="$out/resetbot-$version.oci.tar"
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner --format=posix \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -C "$layout" -cf "$archive.part" \
  oci-layout index.json blobs
mv "$archive.part" "$archive"
layer=$("$host_python" - "$layout" <<'PY'
import json, sys
layout = sys.argv[1]
manifest_digest = json.load(open(f"{layout}/index.json"))["manifests"][0]["digest"]
manifest = json.load(open(f"{layout}/blobs/sha256/{manifest_digest.split(':')[1]}"))
print(" ".join(layer["digest"] for layer in manifest["layers"]))
PY
)
say "OCI image: $((SECONDS - step)) s"
size=$(stat -c %s "$archive")
echo "built $archive (resetbot:$version, $(awk "BEGIN { printf \"%.1f\", $size / 1e6 }") MB) in $((SECONDS - started)) s"
echo "layer $layer"
