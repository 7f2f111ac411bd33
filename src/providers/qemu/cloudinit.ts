// cloud-init NoCloud seed for disk-image guests: user-data + meta-data (pure), and the node-side
// script that packs them into a disk labelled "cidata" with whatever tool the node has.
import { STATE_DIR, WORKSPACE_DIR } from './spec.js';

export interface SeedInput {
  /** Workspace name: instance id and hostname. */
  name: string;
  user: string;
  publicKey: string;
}

/** meta-data: a new instance-id per workspace, so cloud-init runs its first-boot modules. */
export function metaData(input: SeedInput): string {
  return `instance-id: vendetta-${input.name}\nlocal-hostname: ${input.name}\n`;
}

/**
 * user-data: authorize our key for the guest user (root, or a user with passwordless sudo) and
 * make the workspace and supervisor directories, owned by that user.
 */
export function userData(input: SeedInput): string {
  const key = JSON.stringify(input.publicKey.trim());
  const user = JSON.stringify(input.user);
  const lines = ['#cloud-config', `hostname: ${input.name}`];
  if (input.user === 'root') {
    lines.push('disable_root: false', 'users:', '  - name: root', `    ssh_authorized_keys: [${key}]`);
  } else {
    lines.push(
      'users:',
      '  - default',
      `  - name: ${user}`,
      '    shell: /bin/sh',
      "    sudo: 'ALL=(ALL) NOPASSWD:ALL'",
      '    lock_passwd: true',
      `    ssh_authorized_keys: [${key}]`,
    );
  }
  lines.push(
    'ssh_pwauth: false',
    'runcmd:',
    `  - [mkdir, -p, ${WORKSPACE_DIR}, ${STATE_DIR}]`,
    `  - [chown, ${user}, ${WORKSPACE_DIR}, ${STATE_DIR}]`,
  );
  return `${lines.join('\n')}\n`;
}

/**
 * Packs $1/user-data and $1/meta-data into $2, a volume labelled "cidata": cloud-localds, else an
 * ISO (genisoimage / mkisofs / xorriso), else vfat (mkfs.vfat + mcopy). Exit 3 = no tool.
 */
export function seedBuildArgv(seedDir: string, seedImage: string): string[] {
  // mkfs.vfat lives in /usr/sbin, outside a non-root SSH login's PATH on Debian.
  const script = `PATH=$PATH:/usr/sbin:/sbin; D=$1; OUT=$2; U=$D/user-data; M=$D/meta-data
if command -v cloud-localds >/dev/null 2>&1; then exec cloud-localds "$OUT" "$U" "$M"; fi
for t in genisoimage mkisofs; do
  if command -v $t >/dev/null 2>&1; then exec $t -quiet -output "$OUT" -volid cidata -joliet -rock "$U" "$M"; fi
done
if command -v xorriso >/dev/null 2>&1; then exec xorriso -as mkisofs -quiet -output "$OUT" -volid cidata -joliet -rock "$U" "$M"; fi
if command -v mkfs.vfat >/dev/null 2>&1 && command -v mcopy >/dev/null 2>&1; then
  rm -f "$OUT"; truncate -s 2M "$OUT" && mkfs.vfat -n CIDATA "$OUT" >/dev/null && mcopy -i "$OUT" "$U" "$M" ::/ && exit 0
  exit 1
fi
echo "no tool to build a cloud-init seed: install cloud-image-utils, genisoimage, xorriso, or dosfstools + mtools" >&2
exit 3`;
  return ['/bin/sh', '-c', script, 'sh', seedDir, seedImage];
}

/**
 * The readiness exec. A cloud-init guest accepts SSH before its final stage has run `runcmd`
 * (which makes the workspace dirs for a non-root user): when cloud-init is enabled in the guest,
 * wait for this boot's result.json (written once every stage has run, errors or not; `cloud-init
 * status --wait` returns early on the first module error). Bounded by the exec's timeout.
 */
export function guestReadyArgv(cloudInit: boolean): string[] {
  if (!cloudInit) return ['mkdir', '-p', WORKSPACE_DIR, STATE_DIR];
  const wait = 'if [ -e /run/cloud-init/enabled ]; then while [ ! -e /run/cloud-init/result.json ]; do sleep 1; done; fi';
  return ['/bin/sh', '-c', `${wait}; mkdir -p ${WORKSPACE_DIR} ${STATE_DIR}`];
}
