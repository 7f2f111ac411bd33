// Docker networking of workspaces (spec.network): pure rules shared by the manifest checks and
// the planner.

/** "service:api" → "api" (the workspace whose network namespace is shared); anything else → undefined. */
export function networkTarget(mode: string | undefined): string | undefined {
  return mode?.startsWith('service:') ? mode.slice('service:'.length) : undefined;
}
