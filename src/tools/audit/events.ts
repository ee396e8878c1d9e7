/** Records of examples/audit/exec_audit.c's ring buffer, decoded. */
import { TsbpfError } from '../../errors.ts';

export class ExecEventError extends TsbpfError {
  override name = 'ExecEventError';
}

export interface ExecEvent {
  pid: number;
  ppid: number;
  uid: number;
  gid: number;
  cgroupId: bigint;
  comm: string;
  /** The file executed, as the kernel resolved it. */
  filename: string;
  argv: string[];
  /** The arguments were longer than the 4 KiB read: argv holds the start. */
  argsTruncated: boolean;
}

const RECORD_SIZE = 304 + 4096;
const text = new TextDecoder('utf-8');

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return text.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** struct exec_event's bytes (a ring-buffer record) as an ExecEvent. */
export function decodeExecEvent(record: Uint8Array): ExecEvent {
  if (record.length < RECORD_SIZE) throw new ExecEventError(`an exec event record is ${RECORD_SIZE} bytes, got ${record.length}`);
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const argsSize = Math.min(view.getUint32(24, true), 4096);
  const args = record.subarray(304, 304 + argsSize);
  const argv = args.length === 0 ? [] : text.decode(args).split('\0');
  // The area ends with the last argument's NUL: drop the empty string after it.
  if (argv.length > 0 && argv[argv.length - 1] === '') argv.pop();
  return {
    cgroupId: view.getBigUint64(0, true),
    pid: view.getUint32(8, true),
    ppid: view.getUint32(12, true),
    uid: view.getUint32(16, true),
    gid: view.getUint32(20, true),
    argsTruncated: (view.getUint32(28, true) & 1) !== 0,
    comm: cString(record.subarray(32, 48)),
    filename: cString(record.subarray(48, 304)),
    argv,
  };
}
