// Public API of manifest loading and validation.
export { loadManifests, LIMITS, type LoadResult, type LoadOptions } from './load.js';
export { formatManifestError, formatManifestErrorFrom, formatManifestErrors, type ManifestError } from './errors.js';
export { validateDocument, SCHEMAS, type Issue } from './schema.js';
export { DEFAULTS, withDefaults } from './defaults.js';
export { dependencyCycles } from './references.js';
