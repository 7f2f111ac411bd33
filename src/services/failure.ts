// Why a service that does not run failed, in words, from its exit code and last log lines. Pure.
import type { ObservedService } from '../model/types.js';

export interface ServiceFailure {
  /** Restarting cannot fix it: report at once instead of waiting for the process to settle. */
  permanent: boolean;
  /** One line: "command not found (exit 127)", "port 3000 already in use". */
  summary: string;
}

const ADDRESS_IN_USE = /EADDRINUSE|address already in use/i;
// ":3000", "127.0.0.1:3000", ":::3000", "[::1]:3000", "port 3000": the last one on the line that
// says so is the port (addresses come before it).
const PORT_ON_LINE = /(?:\bport\s+|:)(\d{1,5})\b(?!\.)/gi;

/** The port an "address already in use" line names, if it names one. */
function portOf(line: string): number | undefined {
  const ports = [...line.matchAll(PORT_ON_LINE)].map((m) => Number(m[1])).filter((n) => n > 0 && n < 65536);
  return ports.at(-1);
}

/**
 * Classify a service that exited or is backing off. Exit 127 (command not found) and 126 (not
 * executable) and "address already in use" in its output are permanent: the next try fails the
 * same way. `ports` are the service's declared ports, for a message that names none.
 */
export function classifyServiceFailure(observed: ObservedService, ports: number[] = []): ServiceFailure | undefined {
  if (observed.state !== 'exited' && observed.state !== 'backoff') return undefined;
  const tail = observed.logTail ?? [];
  const code = observed.exitCode;
  if (code === 127) return { permanent: true, summary: 'command not found (exit 127)' };
  if (code === 126) return { permanent: true, summary: 'command found but not executable (exit 126)' };
  const inUse = [...tail].reverse().find((l) => ADDRESS_IN_USE.test(l));
  if (inUse !== undefined && code !== 0) {
    const port = portOf(inUse) ?? (ports.length === 1 ? ports[0] : undefined);
    return { permanent: true, summary: port !== undefined ? `port ${port} already in use` : 'address already in use' };
  }
  return undefined;
}

/** " ; last log lines:\n    …" for a failure reason, or nothing when the log said nothing. */
export function logTailText(observed: ObservedService | undefined): string {
  const tail = observed?.logTail ?? [];
  return tail.length > 0 ? `; last log lines:\n${tail.map((l) => `    ${l}`).join('\n')}` : '';
}
