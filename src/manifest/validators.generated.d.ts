// Types of validators.generated.js (scripts/gen-validators.mjs): one "is it valid?" check per kind.
type Check = (value: unknown) => boolean;
export const Node: Check;
export const Workspace: Check;
export const Service: Check;
