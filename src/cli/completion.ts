// vendetta completion bash|zsh|fish : a shell completion script generated from the commander
// command tree, so commands, subcommands and flags stay in sync with the CLI. Resource names
// (workspaces, services, nodes) are completed live through `vendetta get KIND -o name`.
import { Argument, type Command, type Option } from 'commander';
import { LIST_FORMATS } from '../output/format.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** How to complete a positional argument or an option value. */
type Completer =
  | { type: 'none' }
  | { type: 'words'; words: string[] }
  | { type: 'files' }
  /** Names of one kind, read live with `vendetta get KIND -o name`. */
  | { type: 'names'; kind: 'nodes' | 'workspaces' | 'services' }
  /** Names of the kind given as the first argument (get/describe/delete KIND NAME). */
  | { type: 'names-of-kind' };

interface FlagSpec {
  flags: string[];
  description: string;
  /** Takes a value, completed by `value`. */
  value?: Completer;
}

interface ArgSpec {
  name: string;
  variadic: boolean;
  complete: Completer;
}

export interface CommandSpec {
  /** Words after `vendetta`: [] for the root, ['node', 'add'], … */
  path: string[];
  description: string;
  subcommands: CommandSpec[];
  flags: FlagSpec[];
  args: ArgSpec[];
}

const KINDS = ['nodes', 'workspaces', 'services'];

/** The command tree as plain data (pure: reads commander's registered commands and options). */
export function commandSpec(cmd: Command, path: string[] = []): CommandSpec {
  const hidden = (o: Option) => (o as Option & { hidden?: boolean }).hidden;
  const flags = cmd.options.filter((o) => !hidden(o)).map((o) => flagSpec(o));
  flags.push({ flags: ['-h', '--help'], description: 'show help' });
  return {
    path,
    description: cmd.description(),
    subcommands: cmd.commands.filter((c) => !(c as Command & { _hidden?: boolean })._hidden).map((c) => commandSpec(c, [...path, c.name()])),
    flags,
    args: cmd.registeredArguments.map((a) => argSpec(path, a)),
  };
}

function flagSpec(o: Option): FlagSpec {
  const flags = [o.short, o.long].filter((f): f is string => Boolean(f));
  const spec: FlagSpec = { flags, description: o.description };
  if (o.required || o.optional) {
    if (o.argChoices?.length) spec.value = { type: 'words', words: o.argChoices };
    else if (o.long === '--output') spec.value = { type: 'words', words: LIST_FORMATS.map((f) => f.replace(/TEMPLATE$/, '')) };
    else if (/file|identity/.test(o.long ?? '')) spec.value = { type: 'files' };
    else spec.value = { type: 'none' };
  }
  return spec;
}

function argSpec(path: string[], a: Argument): ArgSpec {
  const name = a.name();
  const top = path[0];
  let complete: Completer = { type: 'none' };
  if (a.argChoices?.length) complete = { type: 'words', words: a.argChoices };
  else if (name === 'kind') complete = { type: 'words', words: KINDS };
  else if (name === 'workspace') complete = { type: 'names', kind: 'workspaces' };
  else if (name === 'service') complete = { type: 'names', kind: 'services' };
  else if (name === 'name' || name === 'names') {
    if (top === 'get' || top === 'describe' || top === 'delete') complete = { type: 'names-of-kind' };
    else if (top === 'node' && path[1] !== 'add') complete = { type: 'names', kind: 'nodes' };
    else if (top === 'workspace') complete = { type: 'names', kind: 'workspaces' };
  }
  return { name, variadic: a.variadic, complete };
}

function allCommands(spec: CommandSpec): CommandSpec[] {
  return [spec, ...spec.subcommands.flatMap(allCommands)];
}

export function completionScript(shell: Shell, program: Command): string {
  const spec = commandSpec(program);
  return shell === 'fish' ? fishScript(spec) : posixScript(shell, spec);
}

// ---- bash and zsh: one portable-sh core, shell-specific glue -----------------------------------

/** Single-quoted for sh. */
function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A completer as the words the sh core understands. */
function completerToken(c: Completer | undefined): string {
  if (!c) return '-';
  switch (c.type) {
    case 'none':
      return '-';
    case 'files':
      return '@files';
    case 'names':
      return `@names:${c.kind}`;
    case 'names-of-kind':
      return '@names-of-kind';
    case 'words':
      return c.words.join(',');
  }
}

function posixScript(shell: 'bash' | 'zsh', root: CommandSpec): string {
  const commands = allCommands(root);
  const key = (c: CommandSpec) => c.path.join(' ');
  const globalFlags = root.flags;
  const cases = (lines: string[]) => lines.filter(Boolean).join('\n');
  const subs = cases(commands.filter((c) => c.subcommands.length).map((c) => `    ${q(key(c))}) echo ${q(c.subcommands.map((s) => s.path.at(-1)).join(' '))} ;;`));
  const flags = cases(commands.map((c) => {
    const all = c === root ? c.flags : [...c.flags, ...globalFlags.filter((g) => !g.flags.includes('-v'))];
    return `    ${q(key(c))}) echo ${q([...new Set(all.flatMap((f) => f.flags))].join(' '))} ;;`;
  }));
  // "<path>|<flag>" → completer of the flag's value, for flags that take one.
  const valueCases = cases(commands.flatMap((c) => {
    const all = c === root ? c.flags : [...c.flags, ...globalFlags];
    return all.filter((f) => f.value).map((f) => `    ${f.flags.map((x) => q(`${key(c)}|${x}`)).join('|')}) echo ${q(completerToken(f.value))} ;;`);
  }));
  const args = cases(commands.filter((c) => c.args.length).map((c) =>
    `    ${q(key(c))}) echo ${q(c.args.map((a) => completerToken(a.complete) + (a.variadic ? '...' : '')).join(' '))} ;;`));

  const core = `# vendetta ${shell} completion, generated by \`vendetta completion ${shell}\` from the CLI's command tree.
# Load it with:  source <(vendetta completion ${shell})
_vendetta_subs() {
  case "$1" in
${subs}
  esac
}
_vendetta_flags() {
  case "$1" in
${flags}
  esac
}
_vendetta_value() {
  case "$1|$2" in
${valueCases}
    *) return 1 ;;
  esac
}
_vendetta_args() {
  case "$1" in
${args}
  esac
}
# Resource names of a kind, from the CLI itself (quiet on any error).
_vendetta_names() {
  "$1" get "$2" -o name 2>/dev/null | sed 's|^[^/]*/||'
}
# Candidates for word number $1 (0 = the command) of the words that follow, one per line.
# "@files" asks the shell for file names.
_vendetta_candidates() {
  # Every name starts with vd_: zsh ties $path to $PATH.
  local vd_cword=$1 vd_cmd=$2 vd_i=0 vd_path='' vd_npos=0 vd_kind='' vd_cur='' vd_prev='' vd_skip=0 vd_dd=0 vd_w vd_t vd_n vd_tok
  shift
  for vd_w in "$@"; do
    if [ "$vd_i" -eq "$vd_cword" ]; then vd_cur=$vd_w; break; fi
    if [ "$vd_i" -gt 0 ]; then
      if [ "$vd_skip" -eq 1 ]; then
        vd_skip=0
      elif [ "$vd_dd" -eq 1 ]; then
        vd_npos=$((vd_npos + 1))
      else
        case $vd_w in
          --) vd_dd=1 ;;
          --*=*) ;;
          -*) if _vendetta_value "$vd_path" "$vd_w" >/dev/null; then vd_skip=1; fi ;;
          *)
            if [ "$vd_npos" -eq 0 ] && _vendetta_subs "$vd_path" | tr ' ' '\\n' | grep -qxF -- "$vd_w"; then
              vd_path=\${vd_path:+$vd_path }$vd_w
            else
              vd_npos=$((vd_npos + 1))
              [ "$vd_npos" -eq 1 ] && vd_kind=$vd_w
            fi ;;
        esac
      fi
    fi
    vd_prev=$vd_w
    vd_i=$((vd_i + 1))
  done
  if [ "$vd_skip" -eq 1 ]; then
    vd_tok=$(_vendetta_value "$vd_path" "$vd_prev")
  elif [ "$vd_dd" -eq 1 ]; then
    return 0
  else
    case $vd_cur in
      -*) _vendetta_flags "$vd_path" | tr ' ' '\\n'; return 0 ;;
    esac
    if [ "$vd_npos" -eq 0 ] && [ -n "$(_vendetta_subs "$vd_path")" ]; then
      _vendetta_subs "$vd_path" | tr ' ' '\\n'
      return 0
    fi
    # The argument being completed is number vd_npos + 1; a variadic last one repeats.
    vd_n=0
    vd_tok=-
    for vd_t in $(_vendetta_args "$vd_path"); do
      vd_tok=$vd_t
      vd_n=$((vd_n + 1))
      [ "$vd_n" -gt "$vd_npos" ] && break
    done
    if [ "$vd_n" -le "$vd_npos" ]; then
      case $vd_tok in
        *...) ;;
        *) vd_tok=- ;;
      esac
    fi
    vd_tok=\${vd_tok%...}
  fi
  case $vd_tok in
    -) ;;
    @files) echo @files ;;
    @names-of-kind) [ -n "$vd_kind" ] && _vendetta_names "$vd_cmd" "$vd_kind" ;;
    @names:*) _vendetta_names "$vd_cmd" "\${vd_tok#@names:}" ;;
    *) echo "$vd_tok" | tr ',' '\\n' ;;
  esac
}
`;
  if (shell === 'bash') {
    return `${core}_vendetta() {
  local cur=\${COMP_WORDS[COMP_CWORD]} out
  out=$(_vendetta_candidates "$COMP_CWORD" "\${COMP_WORDS[@]}")
  if [ "$out" = @files ]; then
    COMPREPLY=($(compgen -f -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$out" -- "$cur"))
  fi
}
complete -o default -F _vendetta vendetta
`;
  }
  return `#compdef vendetta
${core}_vendetta() {
  local out
  # zsh counts words from 1; the core counts from 0.
  out=$(_vendetta_candidates $((CURRENT - 1)) "\${words[@]}")
  if [[ $out == @files ]]; then
    _files
  else
    local -a cands
    cands=(\${(f)out})
    compadd -- $cands
  fi
}
if (( $+functions[compdef] )); then
  compdef _vendetta vendetta
else
  print -u2 'vendetta completion: run "autoload -Uz compinit && compinit" before sourcing this script'
fi
`;
}

// ---- fish ---------------------------------------------------------------------------------------

function fishQ(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function fishScript(root: CommandSpec): string {
  const lines = [
    '# vendetta fish completion, generated by `vendetta completion fish` from the CLI\'s command tree.',
    '# Load it with:  vendetta completion fish | source',
    'function __vendetta_path',
    '    # The subcommand path typed so far (e.g. "node add"), flags and their values skipped.',
    '    set -l words (commandline -opc)',
    '    set -e words[1]',
    '    set -l path',
    '    for w in $words',
    '        string match -q -- "-*" $w; and continue',
    '        if contains -- "$w" (__vendetta_subs (string join " " $path))',
    '            set path $path $w',
    '        else',
    '            break',
    '        end',
    '    end',
    '    string join " " $path',
    'end',
    'function __vendetta_subs',
    '    switch "$argv[1]"',
  ];
  const commands = allCommands(root);
  for (const c of commands.filter((x) => x.subcommands.length)) {
    lines.push(`        case ${fishQ(c.path.join(' '))}`, `            printf '%s\\n' ${c.subcommands.map((s) => fishQ(s.path.at(-1)!)).join(' ')}`);
  }
  lines.push('    end', 'end');
  lines.push(
    'function __vendetta_at',
    '    set -l p (__vendetta_path)',
    '    test "$p" = "$argv[1]"',
    'end',
    'function __vendetta_kind',
    '    # The KIND argument of get/describe/delete.',
    '    set -l words (commandline -opc)',
    '    for w in $words[3..-1]',
    '        string match -q -- "-*" $w; and continue',
    '        echo $w',
    '        return 0',
    '    end',
    '    return 1',
    'end',
    'function __vendetta_names',
    '    set -l kind $argv[1]',
    '    test "$kind" = kind; and set kind (__vendetta_kind)',
    '    test -n "$kind"; or return',
    '    vendetta get $kind -o name 2>/dev/null | string replace -r "^[^/]*/" ""',
    'end',
    'complete -c vendetta -f',
  );
  for (const c of commands) {
    const at = `__vendetta_at ${fishQ(c.path.join(' '))}`;
    for (const s of c.subcommands) lines.push(`complete -c vendetta -n ${fishQ(at)} -a ${fishQ(s.path.at(-1)!)} -d ${fishQ(s.description)}`);
    const flags = c === root ? c.flags : [...c.flags, ...root.flags.filter((g) => !g.flags.includes('-v'))];
    for (const f of flags) {
      const parts = [`complete -c vendetta -n ${fishQ(at)}`];
      for (const x of f.flags) parts.push(x.startsWith('--') ? `-l ${x.slice(2)}` : `-s ${x.slice(1)}`);
      if (f.value) {
        parts.push(f.value.type === 'files' ? '-r -F' : '-x');
        if (f.value.type === 'words') parts.push(`-a ${fishQ(f.value.words.join(' '))}`);
      }
      parts.push(`-d ${fishQ(f.description)}`);
      lines.push(parts.join(' '));
    }
    // Positional values (first argument's completions; names of resources).
    for (const a of c.args.slice(0, 2)) {
      const comp = a.complete;
      const kindFirst = a.name === 'kind' && c.args[1]?.complete.type === 'names-of-kind';
      if (comp.type === 'words') lines.push(`complete -c vendetta -n ${fishQ(kindFirst ? `${at}; and not __vendetta_kind >/dev/null` : at)} -a ${fishQ(comp.words.join(' '))}`);
      else if (comp.type === 'names') lines.push(`complete -c vendetta -n ${fishQ(at)} -a ${fishQ(`(__vendetta_names ${comp.kind})`)}`);
      else if (comp.type === 'names-of-kind') lines.push(`complete -c vendetta -n ${fishQ(`${at}; and __vendetta_kind >/dev/null`)} -a ${fishQ('(__vendetta_names kind)')}`);
    }
  }
  return lines.join('\n') + '\n';
}

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script (bash, zsh or fish)')
    .addArgument(new Argument('<shell>', 'bash | zsh | fish').choices(SHELLS))
    .addHelpText('after', `
Load it:
  bash   source <(vendetta completion bash)          # or save it to /etc/bash_completion.d/vendetta
  zsh    source <(vendetta completion zsh)           # after compinit
  fish   vendetta completion fish | source           # or save it to ~/.config/fish/completions/vendetta.fish`)
    .action((shell: Shell) => {
      process.stdout.write(completionScript(shell, program));
    });
}
