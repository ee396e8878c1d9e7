/**
 * Command-line options of the tools, declared as BCC declares them (short
 * and long names, a value kind): parsed into a record, with the tool's
 * positional arguments (interval, count, duration) after them.
 */
import { ToolUsageError } from './errors.ts';

export type OptionKind = 'flag' | 'integer' | 'number' | 'string' | 'list';

export interface OptionSpec {
  /** `-p` */
  short?: string;
  /** `--pid` */
  long: string;
  kind: OptionKind;
  /** Shown in the usage after the option names. */
  help: string;
  /** Name of the value in the usage (`PID`). */
  value?: string;
}

export type OptionValue = boolean | number | string | number[];

/** The usage text of a tool: a synopsis line, a description and one line per option. */
export function formatUsage(name: string, synopsis: string, description: string, options: readonly OptionSpec[], examples: readonly string[]): string {
  const all = [...options, { short: 'h', long: 'help', kind: 'flag', help: 'show this help' } satisfies OptionSpec, { long: 'json', kind: 'flag', help: 'one JSON object per event or per interval' } satisfies OptionSpec];
  const left = all.map((o) => `${o.short ? `-${o.short}, ` : '    '}--${o.long}${o.kind === 'flag' ? '' : ` ${o.value ?? o.long.toUpperCase()}`}`);
  const width = Math.max(...left.map((l) => l.length));
  const lines = all.map((o, i) => `  ${left[i]!.padEnd(width)}  ${o.help}`);
  return `usage: tsbpf ${name} ${synopsis}\n       tsbpf tool ${name} ${synopsis}\n\n${description}\n\noptions:\n${lines.join('\n')}\n\nexamples:\n${examples.map((e) => `  ${e}`).join('\n')}\n`;
}

function parseValue(option: OptionSpec, text: string | undefined, flag: string): OptionValue {
  if (text === undefined) throw new ToolUsageError(`option ${flag} needs a value (${option.value ?? option.long.toUpperCase()})`);
  switch (option.kind) {
    case 'integer': {
      if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw new ToolUsageError(`option ${flag} needs a non-negative integer, got '${text}'`);
      return Number(text);
    }
    case 'number': {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n) || n <= 0) throw new ToolUsageError(`option ${flag} needs a positive number, got '${text}'`);
      return n;
    }
    case 'list': {
      const items = text.split(',').map((item) => item.trim());
      const numbers = items.map(Number);
      if (items.some((item, i) => !/^\d+$/.test(item) || numbers[i]! > 65535)) throw new ToolUsageError(`option ${flag} needs a comma-separated list of numbers up to 65535, got '${text}'`);
      return numbers;
    }
    default:
      return text;
  }
}

/** Splits `args` into option values (by long name) and positional arguments; `-h`/`--help` sets `help`. */
export function parseToolArgs(args: readonly string[], options: readonly OptionSpec[], maxPositional: number): { values: Record<string, OptionValue>; positional: string[] } {
  const values: Record<string, OptionValue> = {};
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-h' || arg === '--help') values.help = true;
    else if (arg === '--json') values.json = true;
    else if (arg.startsWith('--')) {
      const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
      const option = options.find((o) => o.long === name);
      if (option === undefined) throw new ToolUsageError(`unknown option '${arg}'`);
      if (option.kind === 'flag') {
        if (inline !== undefined) throw new ToolUsageError(`option --${name} takes no value`);
        values[option.long] = true;
      } else values[option.long] = parseValue(option, inline ?? args[++i], `--${name}`);
    } else if (arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg)) {
      // Short options cluster as in BCC (`-tx`); a valued one takes the rest of the word or the next argument.
      for (let at = 1; at < arg.length; at++) {
        const option = options.find((o) => o.short === arg[at]);
        if (arg[at] === 'h') {
          values.help = true;
          continue;
        }
        if (option === undefined) throw new ToolUsageError(`unknown option '-${arg[at]}'`);
        if (option.kind === 'flag') values[option.long] = true;
        else {
          const rest = arg.slice(at + 1);
          values[option.long] = parseValue(option, rest !== '' ? rest : args[++i], `-${option.short}`);
          break;
        }
      }
    } else {
      if (positional.length >= maxPositional) throw new ToolUsageError(`unexpected argument '${arg}'`);
      positional.push(arg);
    }
  }
  return { values, positional };
}

/** A positional argument that must be a positive number (interval, duration). */
export function positiveNumber(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new ToolUsageError(`${what} must be a positive number, got '${text}'`);
  return n;
}

/** A positional argument that must be a positive integer (count). */
export function positiveInteger(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) === 0) throw new ToolUsageError(`${what} must be a positive integer, got '${text}'`);
  return Number(text);
}
