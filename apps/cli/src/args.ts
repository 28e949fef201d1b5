import { parseArgs, ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  override name = 'UsageError';
}

/** One option of a command: parseArgs' settings plus what --help prints for it. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  default?: string;
  short?: string;
  /** The value's placeholder in --help, e.g. `dir` for `--out <dir>` (string options). */
  value?: string;
  /** One line for --help. */
  description: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

/** A subcommand's arguments and its --help text. */
export interface CommandSpec<T extends OptionSpecs = OptionSpecs> {
  name: string;
  /** The synopsis after `padim <name>`. */
  synopsis: string;
  /** One line for the top level's list of commands. */
  summary: string;
  description: string;
  options: T;
  example: string;
  positionals?: boolean;
}

/** Thrown by parseCommand on --help / -h: main prints `text` to stdout and exits 0. */
export class HelpRequested extends Error {
  override name = 'HelpRequested';
  constructor(readonly text: string) {
    super('help requested');
  }
}

const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', description: 'print this help and exit' };

/** The --help text of a command: synopsis, description, one line per option, an example. */
export function helpText(spec: CommandSpec): string {
  const options: [string, string][] = Object.entries({ ...spec.options, help: HELP_OPTION }).map(([name, o]) => [
    `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` <${o.value ?? 'value'}>` : ''}`,
    `${o.description}${o.default !== undefined ? ` (default ${o.default})` : ''}`,
  ]);
  const width = Math.max(...options.map(([flag]) => flag.length)) + 2;
  return (
    `usage: padim ${spec.name} ${spec.synopsis}\n${spec.description}\n\noptions:\n` +
    options.map(([flag, text]) => `  ${flag.padEnd(width)}${text}`).join('\n') +
    `\n\nexample:\n  ${spec.example}\n`
  );
}

type Values<T extends OptionSpecs> = Record<string, string | boolean | undefined> & {
  [K in keyof T]?: T[K]['type'] extends 'boolean' ? boolean : string;
};

/**
 * Parses a command's arguments strictly (an unknown option is a UsageError naming it).
 *
 * @throws HelpRequested on --help or -h
 */
export function parseCommand<T extends OptionSpecs>(args: string[], spec: CommandSpec<T>): { values: Values<T>; positionals: string[] } {
  const options = Object.fromEntries(
    Object.entries({ ...spec.options, help: HELP_OPTION }).map(([name, o]) => [
      name,
      { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.default !== undefined ? { default: o.default } : {}) },
    ]),
  ) as NonNullable<ParseArgsConfig['options']>;
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: spec.positionals ?? false, strict: true });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n(padim ${spec.name} --help lists the options)`);
  }
  if (parsed.values.help) throw new HelpRequested(helpText(spec));
  return parsed as never;
}

export function intOption(value: string | undefined, name: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got "${value}"`);
  return n;
}

export function numberOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${value}"`);
  return n;
}

export function choice<T extends string>(value: string | undefined, name: string, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got "${value}"`);
  return value as T;
}

/** `--indices 3,17,42` → [3, 17, 42] */
export function intList(value: string | undefined, name: string): number[] | undefined {
  if (value === undefined) return undefined;
  const list = value.split(',').map((s) => Number(s.trim()));
  if (list.some((n) => !Number.isInteger(n) || n < 0)) throw new UsageError(`--${name} must be a comma-separated list of channel numbers`);
  return list;
}
