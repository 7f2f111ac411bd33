// Helpers shared by the QEMU e2e suites: looks at the machine from outside the CLI.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';

/** Every live qemu process whose command line mentions a path under `prefix`. */
export function qemuProcesses(prefix: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.startsWith('qemu-system') && cmdline.includes(prefix)) pids.push(Number(entry));
    } catch {
      /* exited meanwhile */
    }
  }
  return pids;
}

/** Content hash of a file (a base image must never change). */
export function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}
