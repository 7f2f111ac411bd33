// Terminal styling that respects NO_COLOR, FORCE_COLOR and non-TTY output.

export interface Style {
  color: boolean;
  tty: boolean;
  green(s: string): string;
  yellow(s: string): string;
  red(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

export function detectStyle(stream: NodeJS.WriteStream = process.stdout, env = process.env): Style {
  const tty = Boolean(stream.isTTY);
  const color = env.NO_COLOR ? false : env.FORCE_COLOR ? env.FORCE_COLOR !== '0' : tty && env.TERM !== 'dumb';
  const wrap = (code: number, reset: number) => (s: string) => (color ? `\x1b[${code}m${s}\x1b[${reset}m` : s);
  return {
    color,
    tty,
    green: wrap(32, 39),
    yellow: wrap(33, 39),
    red: wrap(31, 39),
    dim: wrap(2, 22),
    bold: wrap(1, 22),
  };
}
