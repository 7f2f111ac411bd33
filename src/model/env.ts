// Env values after fromEnv/fromFile references are resolved on the applying machine.

export interface ResolvedValue {
  value: string;
  /** Came from fromEnv/fromFile: never printed, stored or put in events. */
  secret: boolean;
}
export type ResolvedEnv = Record<string, ResolvedValue>;

export const REDACTED = '(secret)';

export function plainEnv(env: ResolvedEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v.value]));
}

/** For output: literal values as they are, secrets as "(secret)". */
export function redactedEnv(env: ResolvedEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v.secret ? REDACTED : v.value]));
}
