#!/usr/bin/env bash
# The README's test command: start the real test infrastructure (sshd nodes with their own
# dockerd on 127.0.0.x), run every test (typecheck, unit, local, e2e), always tear down.
set -euo pipefail
cd "$(dirname "$0")/.."
cleanup() { bash test/infra/down.sh || true; }
trap cleanup EXIT
# The cloud image builds on while the tests run; test/e2e/qemu-cloudimg.test.ts waits for it.
VENDETTA_CLOUDIMG_WAIT=0 bash test/infra/up.sh
npm test
