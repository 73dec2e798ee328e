#!/bin/sh
# Runs as root inside the image being built, the same in both builds: deploy/image/build.sh (chrooted
# into the mmdebstrap root filesystem) and the Containerfile (a RUN step). Needs python3 installed and,
# in WHEELS (default /tmp/wheels): runtime.lock, every wheel it pins, the project's wheel and a pip wheel.
# Needs no network (--no-index). Leaves no pip and no cache, and byte code only of the deterministic
# kind (hash-based .pyc files: two builds give the same bytes).
set -eu
WHEELS=${1:-/tmp/wheels}
VENV=/opt/resetbot
HOME_DIR=/var/lib/resetbot

set -- "$WHEELS"/pip-*.whl
[ -f "$1" ] || { echo "install.sh: no pip wheel in $WHEELS" >&2; exit 2; }
pip_whl=$1
pip() {  # pip run from its wheel: the venv itself gets no pip
  "$VENV/bin/python" "$pip_whl/pip" install --no-index --find-links "$WHEELS" --no-compile --no-cache-dir \
    --disable-pip-version-check --root-user-action=ignore --quiet "$@"
}

python3 -m venv --without-pip "$VENV"
pip --require-hashes -r "$WHEELS/runtime.lock"  # the runtime and the postgres extra, pinned with their hashes
pip --no-deps resetbot                            # the project's own wheel
# Byte code once, as files whose check is a hash of the source rather than its mtime: reproducible,
# and nothing to write at run time (the venv is not the bot's to write; PYTHONDONTWRITEBYTECODE is set).
"$VENV/bin/python" -m compileall -q -j 1 --invalidation-mode checked-hash "$VENV/lib" >/dev/null

groupadd --gid 10001 resetbot
useradd --uid 10001 --gid 10001 --no-log-init --no-create-home --home-dir "$HOME_DIR" \
  --shell /usr/sbin/nologin resetbot
install -d -m 0700 -o 10001 -g 10001 "$HOME_DIR"

# What a running bot never reads: documentation (the licences stay), package lists and caches, logs of
# this build, backup account files.
find /usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete
find /usr/share/doc -mindepth 1 -type d -empty -delete
rm -rf /usr/share/man/* /usr/share/info/* /usr/share/lintian/*
rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old /var/lib/dpkg/*-old \
  /var/log/apt/* /var/log/dpkg.log /var/log/alternatives.log /var/cache/ldconfig/aux-cache \
  /etc/passwd- /etc/group- /etc/shadow- /etc/gshadow-
