# Sourced by .ci/run: builds the OCI image once (`./dev image`: root, Debian; it installs mmdebstrap and
# umoci) and exports RESETBOT_TEST_IMAGE, so that tests/image runs the bot from that archive rather than
# building its own. On a clean clone this is also where .venv is made (./dev installs first). Prints the
# time it took ("ci: …: N s"); build.sh prints each of its own steps'.
image_started=$SECONDS
./dev image
RESETBOT_TEST_IMAGE="$PWD/dist/resetbot-$(.venv/bin/python -c \
  'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])').oci.tar"
export RESETBOT_TEST_IMAGE
echo "ci: .venv from requirements/test.lock, then ./dev image: $((SECONDS - image_started)) s" >&2
