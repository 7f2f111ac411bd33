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
