// Why a service that does not run failed, in words, from its exit code and last log lines. Pure.
import type { ObservedService } from '../model/types.js';

/** Log lines a failure reason shows. */
export const LOG_TAIL_LINES = 5;

export interface ServiceFailure {
  /** Restarting cannot fix it: report at once instead of waiting for the process to settle. */
  permanent: boolean;
  /** One line: "command not found (exit 127)", "port 3000 already in use". */
  summary: string;
  /** The log line that told, when a log line did. */
  evidence?: string;
}

// The human sentence first: a stack trace may also carry the bare code on a line of its own.
const ADDRESS_IN_USE = [/address already in use/i, /EADDRINUSE/];
// ":3000", "127.0.0.1:3000", ":::3000", "[::1]:3000", "port 3000": the last one on the line that
// says so is the port (addresses come before it).
const PORT_ON_LINE = /(?:\bport:?\s*|:)(\d{1,5})\b(?!\.)/gi;

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
  for (const pattern of ADDRESS_IN_USE) {
    const inUse = [...tail].reverse().find((l) => pattern.test(l));
    if (inUse === undefined || code === 0) continue;
    const port = portOf(inUse) ?? (ports.length === 1 ? ports[0] : undefined);
    return { permanent: true, summary: port !== undefined ? `port ${port} already in use` : 'address already in use', evidence: inUse };
  }
  return undefined;
}

/**
 * "; last log lines:\n    …" for a failure reason (the last LOG_TAIL_LINES lines, after the
 * line that told what went wrong when that is further up), or nothing when the log said nothing.
 */
export function logTailText(observed: ObservedService | undefined, evidence?: string): string {
  const all = observed?.logTail ?? [];
  const tail = all.slice(-LOG_TAIL_LINES);
  const lines = evidence !== undefined && !tail.includes(evidence) ? [evidence, '…', ...tail] : tail;
  return lines.length > 0 ? `; last log lines:\n${lines.map((l) => `    ${l}`).join('\n')}` : '';
}
