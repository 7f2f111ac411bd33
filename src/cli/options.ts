// Flag parsers shared by commands.
import { Option } from 'commander';
import { UsageError } from './errors.js';

/** `-f` is repeatable: `-f a.yaml -f dir/`. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function outputOption(formats: string[], fallback: string): Option {
  return new Option('-o, --output <format>', `output format: ${formats.join('|')}`).choices(formats).default(fallback);
}

export function requireFiles(files: string[] | undefined): string[] {
  if (!files?.length) throw new UsageError('no manifests given', 'pass -f FILE_OR_DIR (repeatable)');
  return files;
}
