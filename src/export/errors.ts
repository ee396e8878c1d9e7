import { TsbpfError } from '../errors.ts';

/** A problem in an exporter config: names the file, the key path (`programs[0].metrics.counters[2].labels[0].size`), the line when known, and the problem. */
export class ExportConfigError extends TsbpfError {
  override name = 'ExportConfigError';
  constructor(
    readonly file: string,
    readonly keyPath: string,
    readonly problem: string,
    readonly line?: number,
  ) {
    super(`${file}${line !== undefined ? `:${line}` : ''}: ${keyPath === '' ? '' : `${keyPath}: `}${problem}`);
  }
}

/** A problem while running the exporter (a map missing from the object, a label layout not matching a key, a failed attach...). */
export class ExportError extends TsbpfError {
  override name = 'ExportError';
}
