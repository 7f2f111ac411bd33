// vendetta convert -f docker-compose.yml: the vendetta manifests a Compose file becomes, printed
// (as kompose does for Kubernetes); warnings on stderr. Nothing is applied. See docs/compose.md.
import type { Command } from 'commander';
import { outputOption } from './options.js';
import { ExitError, UsageError } from './errors.js';

export function registerConvert(program: Command): void {
  program
    .command('convert')
    .description('print the vendetta manifests a Compose file becomes (apply -f accepts the Compose file too)')
    .requiredOption('-f, --filename <path>', 'the Compose file (compose.yaml, docker-compose.yml…)')
    .option('--node <name>', 'the node the workspaces go to', 'local')
    .option('--project <name>', "project name (default: the file's name:, else its directory's name)")
    .addOption(outputOption(['yaml', 'json'], 'yaml'))
    .action(async (flags: { filename: string; node: string; project?: string; output: 'yaml' | 'json' }) => {
      const { readFile } = await import('node:fs/promises');
      const { relative, resolve } = await import('node:path');
      const { convertCompose, ComposeError } = await import('../convert/compose.js');
      const file = resolve(flags.filename);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        throw new UsageError(`cannot read ${flags.filename}: ${(err as Error).message}`);
      }
      let result;
      try {
        result = convertCompose(text, { file, node: flags.node, ...(flags.project ? { project: flags.project } : {}), environ: process.env });
      } catch (err) {
        if (!(err instanceof ComposeError)) throw err;
        const shown = err.errors.map((e) => `${relative(process.cwd(), e.file) || e.file}:${e.line}:${e.col}: ${e.message}`);
        throw new ExitError(`${shown.join('\n')}\n${shown.length} error${shown.length === 1 ? '' : 's'} in ${flags.filename}; nothing was converted`, 1);
      }
      for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
      if (flags.output === 'json') {
        process.stdout.write(JSON.stringify({ source: flags.filename, items: result.documents }, null, 2) + '\n');
        return;
      }
      const { stringify } = await import('yaml');
      const header = `# Converted from ${flags.filename} by vendetta convert (project ${result.project}).\n# build.context and env_file paths are relative to that file's directory: keep this file beside it.\n`;
      process.stdout.write(header + result.documents.map((d) => stringify(d, { lineWidth: 0 })).join('---\n'));
    });
}
