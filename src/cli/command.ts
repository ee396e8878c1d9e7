import { InputTooLargeError, maxInputBytes, readFile } from '../host/node.ts';
import { TsbpfError } from '../errors.ts';

/** Output sinks, injectable so commands can be tested in-process. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** All of standard input; more than `limit` bytes is an InputTooLargeError (read no further). */
  stdin: (limit: number) => Promise<Uint8Array>;
  /** Standard input as it arrives, for input that may not end (a capture from a pipe). */
  stdinStream?: () => AsyncIterable<Uint8Array>;
}

export interface CliCommand {
  readonly name: string;
  /** One line, shown by `tsbpf help`. */
  readonly summary: string;
  /** Full usage text shown by `tsbpf help NAME`, `tsbpf NAME --help` and on a usage error. */
  readonly usage: string;
  /** Returns the process exit code. */
  run(args: string[], io: CliIo): Promise<number>;
}

/** Wrong arguments: the CLI prints the message and the command's usage, exit code 2. */
export class UsageError extends TsbpfError {
  override name = 'UsageError';
}

/** A file given on the command line that cannot be read. */
export class InputFileError extends TsbpfError {
  override name = 'InputFileError';
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`cannot read ${path}: ${reason}`);
  }
}

/**
 * A failed system call on a path the user gave (ENOENT, EACCES, EISDIR...):
 * the user's problem, reported in one line, unlike a bug.
 */
export function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}

/** Reads a whole input file; '-' is standard input. Both stop at the input limit (maxInputBytes). */
export async function readInputFile(path: string, io: CliIo): Promise<Uint8Array> {
  if (path === '-') return io.stdin(maxInputBytes());
  try {
    return readFile(path);
  } catch (err) {
    if (err instanceof InputTooLargeError) throw err;
    throw new InputFileError(path, isSystemError(err) ? `${err.code}: ${systemReason(err)}` : (err as Error).message);
  }
}

/** Node's message without the code and syscall it repeats ("ENOENT: no such file or directory, open 'x'"). */
function systemReason(err: NodeJS.ErrnoException): string {
  return err.message.replace(/^[A-Z]+: /, '').replace(/, \w+( '.*')?$/, '');
}

/** Usage errors worded the same way by every command. */
export function unknownOption(arg: string): UsageError {
  return new UsageError(`unknown option '${arg}'`);
}

export function unexpectedArgument(arg: string): UsageError {
  return new UsageError(`unexpected argument '${arg}'`);
}

/**
 * Walks a command's arguments: each option goes to `option(arg, value)`,
 * which takes the option's value with `value()` (a UsageError naming the
 * option when there is none) and returns false for an option the command
 * does not have. Returns the positional arguments: those not starting with
 * '-', '-' itself (standard input) and negative numbers.
 */
export function parseArguments(args: readonly string[], option: (arg: string, value: () => string) => boolean): string[] {
  const positional: string[] = [];
  for (let n = 0; n < args.length; n++) {
    const arg = args[n]!;
    if (!arg.startsWith('-') || arg === '-' || /^-\d/.test(arg)) {
      positional.push(arg);
      continue;
    }
    const value = (): string => {
      const next = args[++n];
      if (next === undefined) throw new UsageError(`${arg} needs a value`);
      return next;
    };
    if (!option(arg, value)) throw unknownOption(arg);
  }
  return positional;
}

/** A number of seconds given to `flag` (more than zero, at most a year), in milliseconds. */
export function secondsOption(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || value > 86400 * 365) throw new UsageError(`${flag} needs a number of seconds, got '${text}'`);
  return Math.round(value * 1000);
}

/** `--mode` of the commands that attach XDP programs themselves. */
export function xdpMode(text: string): 'generic' | 'native' {
  if (text !== 'generic' && text !== 'native') throw new UsageError(`--mode is generic or native, got '${text}'`);
  return text;
}

/** The one positional argument of a command (`missing` says what it is when absent; a second one is refused). */
export function onePositional(positional: readonly string[], missing: string): string {
  if (positional.length === 0) throw new UsageError(missing);
  if (positional.length > 1) throw unexpectedArgument(positional[1]!);
  return positional[0]!;
}

/**
 * Splits the arguments of a command without valued options into its
 * boolean flags (each one of `allowed`) and positional arguments, of which
 * there may be at most `maxPositional`.
 */
export function parseFlags(args: string[], allowed: readonly string[], maxPositional: number): { flags: Set<string>; positional: string[] } {
  const flags = new Set<string>();
  const positional: string[] = [];
  for (const arg of args) {
    if (arg.startsWith('-')) {
      if (!allowed.includes(arg)) throw unknownOption(arg);
      flags.add(arg);
    } else if (positional.length === maxPositional) {
      throw unexpectedArgument(arg);
    } else {
      positional.push(arg);
    }
  }
  return { flags, positional };
}

/** A kernel object id argument (1 to 2^32-1). */
export function parseObjectId(text: string | undefined, what: string): number {
  if (text === undefined) throw new UsageError(`missing ${what} id`);
  const id = Number(text);
  if (!/^\d+$/.test(text) || id <= 0 || id > 0xffffffff) throw new UsageError(`invalid ${what} id '${text}'`);
  return id;
}
