import { TsbpfError } from '../errors.ts';

/**
 * A malformed or unsupported BPF object. `section` names the ELF section (or
 * the header) where the problem is, `offset` the byte offset in the file or
 * section when known.
 */
export class ObjectError extends TsbpfError {
  override name = 'ObjectError';
  constructor(
    readonly problem: string,
    readonly section?: string,
    readonly offset?: number,
  ) {
    const where = [section !== undefined ? `section '${section}'` : '', offset !== undefined ? `offset ${offset}` : '']
      .filter((s) => s !== '')
      .join(', ');
    super(where === '' ? problem : `${where}: ${problem}`);
  }
}
