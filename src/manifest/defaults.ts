// Defaults applied after validation, so everything downstream sees one shape. The schemas'
// `default` keywords document the same values.
import type { DependsOnCondition, Resource } from '../model/types.js';
import { LOCAL_NODE } from '../model/types.js';

// A Node's port has none here: without spec.port, ~/.ssh/config's Port (else 22) applies at connect.
export const DEFAULTS = {
  workspaceNode: LOCAL_NODE,
  workspaceState: 'running',
  workspacePull: 'missing',
  serviceRestart: 'on-failure',
  healthcheck: { interval: '2s', timeout: '1s', retries: 3, startPeriod: '0s' },
} as const;

/** Returns a copy of a schema-valid resource with defaults filled in and dependsOn as a map. */
export function withDefaults(resource: Resource): Resource {
  const r = structuredClone(resource);
  switch (r.kind) {
    case 'Workspace':
      r.spec.node ??= DEFAULTS.workspaceNode;
      r.spec.state ??= DEFAULTS.workspaceState;
      r.spec.pull ??= DEFAULTS.workspacePull;
      break;
    case 'Service': {
      r.spec.restart ??= DEFAULTS.serviceRestart;
      // The list shorthand ["db"] means {db: {condition: started}}.
      const dependsOn = r.spec.dependsOn as unknown;
      if (Array.isArray(dependsOn)) {
        r.spec.dependsOn = Object.fromEntries(dependsOn.map((name: string) => [name, { condition: 'started' as const }]));
      } else if (dependsOn) {
        for (const entry of Object.values(r.spec.dependsOn!) as { condition?: DependsOnCondition }[]) {
          entry.condition ??= 'started';
        }
      }
      if (r.spec.healthcheck) r.spec.healthcheck = { ...DEFAULTS.healthcheck, ...r.spec.healthcheck };
      break;
    }
  }
  return r;
}
