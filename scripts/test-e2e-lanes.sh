#!/usr/bin/env bash
# The e2e project in two lanes, to keep CI short on a 2-core machine: the VM suites (QEMU under
# TCG: minutes of boots that wait on one core) run beside the rest instead of after it.
#   lane vm:    the files below, one at a time; they use nodes n1/n2 (sshd only) and their own VMs
#   lane main:  every other file, one at a time, except those that restart or rekey n1/n2's sshd
#               (that would cut the VM lane's connections); those run last, after both lanes.
# Each lane is `vitest run --project e2e` (files serial, as vitest.config.ts says). Run against
# infra that test/infra/up.sh started; exits non-zero if any lane failed.
set -uo pipefail
cd "$(dirname "$0")/.."
VM_FILES=(test/e2e/qemu-provider.test.ts test/e2e/qemu-cloudimg.test.ts test/e2e/volumes-qemu.test.ts)
# nodes.sh start|stop|rekey|kill-sessions on n1 or n2 (grep nodeCtl): not while the VM lane runs.
LAST_FILES=(test/e2e/remote-failures.test.ts test/chaos/daemons.test.ts test/chaos/host-key.test.ts)

VITEST=(npx vitest run --project e2e)
LOG=${TMPDIR:-/tmp}/vendetta-e2e-lane-vm.$$.log
excludes=(); for f in "${VM_FILES[@]}" "${LAST_FILES[@]}"; do excludes+=(--exclude "$f"); done

echo "== e2e lane vm (${VM_FILES[*]}), output after the main lane; log $LOG"
"${VITEST[@]}" "${VM_FILES[@]}" > "$LOG" 2>&1 &
VM_PID=$!
trap 'kill "$VM_PID" 2>/dev/null' EXIT

echo "== e2e lane main"
"${VITEST[@]}" "${excludes[@]}"; MAIN_RC=$?

wait "$VM_PID"; VM_RC=$?
trap - EXIT
echo "== e2e lane vm (exit $VM_RC)"
cat "$LOG"; rm -f "$LOG"

echo "== e2e last: ${LAST_FILES[*]}"
"${VITEST[@]}" "${LAST_FILES[@]}"; LAST_RC=$?

echo "== e2e lanes: main $MAIN_RC, vm $VM_RC, last $LAST_RC"
[ "$MAIN_RC" = 0 ] && [ "$VM_RC" = 0 ] && [ "$LAST_RC" = 0 ]
