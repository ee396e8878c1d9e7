import { TsbpfError } from '../errors.ts';

/**
 * A rejection found while verifying: the instruction, the kernel's message
 * and errno. Thrown inside the verifier to unwind; `verify()` returns it as
 * data, and loaders that refuse a program throw a VerifierError.
 */
export class Rejection {
  constructor(
    readonly insnIndex: number,
    readonly message: string,
    readonly errno: 'EACCES' | 'EINVAL' | 'E2BIG' | 'ENOTSUPP' | 'EFAULT' | 'EBADF' | 'EPROTO' = 'EACCES',
    /** Lines the kernel logs after the message (state dumps), not part of it. */
    readonly logDetail = '',
  ) {}
}

/** A program the verifier refused, thrown by loaders (loadVmCollection, tsbpf run). */
export class VerifierError extends TsbpfError {
  override name = 'VerifierError';
  constructor(
    message: string,
    readonly program: string,
    readonly insnIndex: number,
    readonly kernelMessage: string,
    readonly log: string,
    readonly explanation: string,
  ) {
    super(message);
  }
}
