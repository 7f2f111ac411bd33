// Public API of manifest loading and validation.
export { loadManifests, type LoadResult, type LoadOptions } from './load.js';
export { formatManifestError, formatManifestErrorFrom, type ManifestError } from './errors.js';
export { validateDocument, SCHEMAS, type Issue } from './schema.js';
export { DEFAULTS, withDefaults } from './defaults.js';
export { dependencyCycles } from './references.js';
