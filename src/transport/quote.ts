// The one place argv becomes shell text. POSIX single-quote style: inside '…' every byte is
// literal except the quote itself, which is written as '\'' (close, escaped quote, reopen).

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quote one argument so any POSIX shell reads it back as exactly `s`. */
export function quoteArg(s: string): string {
  if (s.includes('\0')) {
    throw new Error(`cannot pass an argument containing a NUL byte to a shell: ${JSON.stringify(s.slice(0, 40))}`);
  }
  if (s === '') return "''";
  if (SAFE.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Quote an argv into one shell command line: `shellQuote(['echo', "it's"])` → `echo 'it'\''s'`. */
export function shellQuote(argv: string[]): string {
  return argv.map(quoteArg).join(' ');
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Refuse an environment variable name a shell could not assign (`env NAME=…`). */
export function checkEnvName(name: string): void {
  if (!ENV_NAME.test(name)) throw new Error(`invalid environment variable name: ${JSON.stringify(name)}`);
}
