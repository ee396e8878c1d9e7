import { TsbpfError } from '../errors.ts';

/** Output sinks, injectable so commands can be tested in-process. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stdin: () => Promise<Uint8Array>;
}

export interface CliCommand {
  readonly name: string;
  /** One line, shown by `tsbpf help`. */
  readonly summary: string;
  /** Full usage text shown by `tsbpf help NAME` and on a usage error. */
  readonly usage: string;
  /** Returns the process exit code. */
  run(args: string[], io: CliIo): Promise<number>;
}

/** Wrong arguments: the CLI prints the message and the command's usage, exit code 2. */
export class UsageError extends TsbpfError {
  override name = 'UsageError';
}
