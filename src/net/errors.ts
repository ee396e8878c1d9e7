import { TsbpfError } from '../errors.ts';

/**
 * A malformed, truncated or unsupported capture file or packet. `offset` is
 * the byte offset in the file where the problem is, when there is one.
 */
export class PcapError extends TsbpfError {
  override name = 'PcapError';
  constructor(
    message: string,
    readonly offset?: number,
  ) {
    super(offset === undefined ? message : `offset ${offset}: ${message}`);
  }
}
