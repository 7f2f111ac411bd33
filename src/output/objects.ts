// Kubernetes-style objects for `get -o json|yaml`: what was applied plus its live status.
import { API_VERSION } from '../model/types.js';
import type { AppliedRecord } from '../store/types.js';

export interface ApiObject {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown>;
  spec: unknown;
  status?: unknown;
}

export function toApiObject(r: AppliedRecord): ApiObject {
  const { metadata, spec } = r.resource;
  return {
    apiVersion: API_VERSION,
    kind: r.kind,
    metadata: {
      ...metadata,
      generation: r.generation,
      annotations: { ...(metadata.annotations ?? {}), 'vendetta.dev/applyset': r.applySet, 'vendetta.dev/applied-at': r.appliedAt },
    },
    // Env references stay references (fromEnv/fromFile): the store never holds secret values.
    spec,
    status: r.status ?? { phase: 'Pending', conditions: [], observedGeneration: 0 },
  };
}

export function toList(items: ApiObject[]): { apiVersion: string; kind: 'List'; items: ApiObject[] } {
  return { apiVersion: API_VERSION, kind: 'List', items };
}
