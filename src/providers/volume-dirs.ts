// Volumes that live as plain node paths (process: a directory each; qemu: a qcow2 disk each),
// under <root>/.volumes/<workspace>/ — outside the directory a recreate replaces. Pure: argv and
// parsing for the one exec that lists them with their usage.
import type { ObservedVolume } from '../model/types.js';

/** What one volume is on the node: a directory, or a qcow2 disk file named <volume>.qcow2. */
export type VolumeEntry = 'dir' | 'qcow2';

const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Lists the volumes (of these workspaces, or all) under root: "KiB<TAB>path" lines (allocated space). */
export function listVolumesArgv(root: string, entry: VolumeEntry, workspaces?: string[]): string[] {
  const match = entry === 'dir' ? `"\${w%/}"/*/` : `"\${w%/}"/*.qcow2`;
  const body = `r=$1
shift
[ -d "$r/.volumes" ] || exit 0
if [ "$#" -eq 0 ]; then set -- "$r"/.volumes/*/; fi
for w in "$@"; do
  case $w in /*) ;; *) w="$r/.volumes/$w" ;; esac
  for v in ${match}; do [ -e "$v" ] && du -sk -- "\${v%/}" 2>/dev/null; done
done
exit 0`;
  return ['/bin/sh', '-c', body, 'sh', root, ...(workspaces ?? [])];
}

/** Parses listVolumesArgv output; paths whose names are not ours (not DNS labels) are skipped. */
export function parseVolumeList(text: string, entry: VolumeEntry): ObservedVolume[] {
  const pattern = entry === 'dir' ? /^([0-9]+)\s+(.*\/\.volumes\/([^/]+)\/([^/]+))$/ : /^([0-9]+)\s+(.*\/\.volumes\/([^/]+)\/([^/]+)\.qcow2)$/;
  const out: ObservedVolume[] = [];
  for (const line of text.split('\n')) {
    const m = pattern.exec(line);
    if (!m || !NAME.test(m[3]!) || !NAME.test(m[4]!)) continue;
    out.push({ workspace: m[3]!, name: m[4]!, handle: m[2]!, usedBytes: Number(m[1]) * 1024 });
  }
  return out;
}
