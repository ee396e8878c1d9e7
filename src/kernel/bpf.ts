/**
 * The bpf() system call: command numbers, `union bpf_attr` assembly and
 * error mapping. Offsets follow include/uapi/linux/bpf.h; the attr buffer is
 * zeroed before every command because the kernel rejects non-zero bytes past
 * the fields it knows (E2BIG) and treats unused fields as meaningful zeros.
 */
import { BpfSyscallError, type Capability } from './errors.ts';
import { NativeBuffer, errnoName, sysBpf } from './ffi.ts';

/** enum bpf_cmd. */
export const BpfCommand = {
  MAP_CREATE: 0,
  MAP_LOOKUP_ELEM: 1,
  MAP_UPDATE_ELEM: 2,
  MAP_DELETE_ELEM: 3,
  MAP_GET_NEXT_KEY: 4,
  PROG_LOAD: 5,
  OBJ_PIN: 6,
  OBJ_GET: 7,
  PROG_ATTACH: 8,
  PROG_DETACH: 9,
  PROG_TEST_RUN: 10,
  PROG_GET_NEXT_ID: 11,
  MAP_GET_NEXT_ID: 12,
  PROG_GET_FD_BY_ID: 13,
  MAP_GET_FD_BY_ID: 14,
  OBJ_GET_INFO_BY_FD: 15,
  PROG_QUERY: 16,
  RAW_TRACEPOINT_OPEN: 17,
  BTF_LOAD: 18,
  BTF_GET_FD_BY_ID: 19,
  TASK_FD_QUERY: 20,
  MAP_LOOKUP_AND_DELETE_ELEM: 21,
  MAP_FREEZE: 22,
  BTF_GET_NEXT_ID: 23,
  MAP_LOOKUP_BATCH: 24,
  MAP_LOOKUP_AND_DELETE_BATCH: 25,
  MAP_UPDATE_BATCH: 26,
  MAP_DELETE_BATCH: 27,
  LINK_CREATE: 28,
  LINK_UPDATE: 29,
  LINK_GET_FD_BY_ID: 30,
  LINK_GET_NEXT_ID: 31,
  ENABLE_STATS: 32,
  ITER_CREATE: 33,
  LINK_DETACH: 34,
  PROG_BIND_MAP: 35,
} as const;
export type BpfCommand = (typeof BpfCommand)[keyof typeof BpfCommand];

const commandNames = new Map<number, string>(Object.entries(BpfCommand).map(([k, v]) => [v, k]));
export const bpfCommandName = (cmd: number): string => commandNames.get(cmd) ?? `cmd ${cmd}`;

/** Bytes of union bpf_attr we pass; larger than any command we use, all zero past what we set. */
const ATTR_SIZE = 160;

/**
 * The attr of one bpf() call. One instance is reused for every call (the
 * kernel copies it during the call and JavaScript is single-threaded).
 */
export class Attr {
  readonly bytes = new Uint8Array(ATTR_SIZE);
  readonly view = new DataView(this.bytes.buffer);
  /** Bytes the command's layout covers (passed as `size`). */
  size = 0;

  reset(size: number): this {
    this.bytes.fill(0);
    this.size = size;
    return this;
  }
  u32(offset: number, value: number): this {
    this.view.setUint32(offset, value >>> 0, true);
    return this;
  }
  s32(offset: number, value: number): this {
    this.view.setInt32(offset, value, true);
    return this;
  }
  u64(offset: number, value: bigint | number): this {
    this.view.setBigUint64(offset, BigInt.asUintN(64, BigInt(value)), true);
    return this;
  }
  /** A NUL-padded fixed-size char array (map_name, prog_name). */
  name(offset: number, text: string, capacity: number): this {
    const encoded = new TextEncoder().encode(text).subarray(0, capacity - 1);
    this.bytes.set(encoded, offset);
    return this;
  }
  readU32(offset: number): number {
    return this.view.getUint32(offset, true);
  }
}

const sharedAttr = new Attr();

/** The reusable attr, zeroed, for a command whose layout spans `size` bytes. */
export const attr = (size: number): Attr => sharedAttr.reset(size);

/**
 * Native scratch memory for short-lived data the kernel reads by address
 * during one bpf() call (path strings, info structs, small arrays). Reset at
 * the start of each use; grows by doubling.
 */
class Scratch {
  #buffer: NativeBuffer | undefined;
  #used = 0;
  /** Outgrown buffers whose addresses may still be in the current call's attr; freed at reset(). */
  #retired: NativeBuffer[] = [];

  reset(): void {
    this.#used = 0;
    for (const old of this.#retired) old.free();
    this.#retired = [];
  }

  /** `length` zeroed bytes valid until the next reset(). */
  take(length: number): { address: bigint; bytes: Uint8Array; view: DataView } {
    let offset = (this.#used + 7) & ~7;
    if (!this.#buffer || offset + length > this.#buffer.length) {
      if (this.#buffer) this.#retired.push(this.#buffer);
      this.#buffer = NativeBuffer.allocate(Math.max(65536, 2 ** Math.ceil(Math.log2(length + 1))));
      offset = 0;
    }
    this.#used = offset + length;
    const bytes = this.#buffer.bytes.subarray(offset, offset + length);
    bytes.fill(0);
    return {
      address: this.#buffer.address + BigInt(offset),
      bytes,
      view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    };
  }

  /** A copy of `data` (or a NUL-terminated `string`) in native memory; returns its address. */
  put(data: Uint8Array | string): bigint {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(`${data}\0`) : data;
    const region = this.take(bytes.length);
    region.bytes.set(bytes);
    return region.address;
  }
}

export const scratch = new Scratch();

export interface CallContext {
  /** What the call is about, for the error message: `map "counts"`, `program "xdp_drop"`... */
  subject?: string;
  /** Capabilities to name when the kernel answers EPERM/EACCES. */
  capabilities?: readonly Capability[];
  /** Extra explanation per errno name, e.g. { ENOENT: 'no such element' }. */
  explain?: Partial<Record<string, string>>;
}

/** Runs bpf(cmd, attr); returns the non-negative result or throws BpfSyscallError. */
export function bpfCall(cmd: BpfCommand, a: Attr, context: CallContext = {}): number {
  const { ret, errno } = tryBpfCall(cmd, a);
  if (ret >= 0) return ret;
  throw bpfError(cmd, errno, context);
}

/** Runs bpf(cmd, attr) and returns the raw result, for callers that treat some errnos as answers (ENOENT at the end of an iteration). */
export function tryBpfCall(cmd: BpfCommand, a: Attr): { ret: number; errno: number } {
  return sysBpf(cmd, a.bytes, a.size);
}

export function bpfError(cmd: BpfCommand, errno: number, context: CallContext, log?: { text: string; truncated: boolean }): BpfSyscallError {
  const code = errnoName(errno);
  return new BpfSyscallError(bpfCommandName(cmd), code, errno, {
    subject: context.subject,
    detail: context.explain?.[code],
    capabilities: context.capabilities ?? ['CAP_BPF'],
    log: log?.text,
    logTruncated: log?.truncated,
  });
}

/** Decodes a NUL-terminated string from a fixed char array. */
export function decodeCString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}
