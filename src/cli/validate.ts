// vendetta validate -f PATH… : schema + reference checks, every error as file:line:col.
import type { Command } from 'commander';
import { collect, outputOption, requireFiles } from './options.js';
import { structured } from '../output/format.js';
import { ExitError } from './errors.js';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check manifests (schema, references, dependency cycles) without touching any node')
    .option('-f, --filename <path>', 'manifest file or directory (repeatable)', collect, [])
    .addOption(outputOption(['text', 'json', 'yaml'], 'text'))
    .action(async (flags: { filename: string[]; output: 'text' | 'json' | 'yaml' }) => {
      // Loaded here, not at the top: ajv and yaml only for the commands that read manifests.
      const { loadManifests, formatManifestErrors } = await import('../manifest/index.js');
      const { manifestOptions } = await import('./client.js');
      const result = await loadManifests(requireFiles(flags.filename), await manifestOptions());
      for (const w of result.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
      if (flags.output !== 'text') {
        const data = result.ok
          ? { valid: true, resources: result.resources.map((r) => ({ kind: r.kind, name: r.metadata.name, source: r.source })) }
          : { valid: false, errors: result.errors, total: result.total };
        process.stdout.write(structured(data, flags.output) + '\n');
        if (!result.ok) throw new ExitError('', 1);
        return;
      }
      if (!result.ok) {
        const n = result.total;
        throw new ExitError(`${formatManifestErrors(result.errors, n).join('\n')}\n${n} error${n === 1 ? '' : 's'}`, 1);
      }
      const counts = new Map<string, number>();
      for (const r of result.resources) counts.set(r.kind, (counts.get(r.kind) ?? 0) + 1);
      const summary = [...counts].map(([k, n]) => `${n} ${k}${n === 1 ? '' : 's'}`).join(', ');
      process.stdout.write(`valid: ${summary || 'no resources'}\n`);
    });
}
