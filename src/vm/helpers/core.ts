/**
 * Helpers with meaning for any program type: time, randomness, CPU id,
 * printing, string parsing, the current task, probe reads, stacks and
 * spin locks. Semantics and error returns follow kernel/bpf/helpers.c,
 * kernel/trace/bpf_trace.c and kernel/bpf/stackmap.c.
 */
import type { HelperCall, HelperRegistry } from '../helper-registry.ts';
import { HelperEnvironmentError, environmentOf } from './environment.ts';
import { EFAULT, EINVAL, ERANGE } from './errno.ts';
import { MAX_PRINTF_ARGS, formatBpf } from './format.ts';
import { readUnsafe, readUnsafeString } from './memory-access.ts';

const TASK_COMM_LEN = 16;
/** bpf_trace_printk's output buffer (BPF_TRACE_PRINTK_SIZE). */
const TRACE_PRINTK_SIZE = 1024;
/** CONFIG_HZ assumed for jiffies64 and the coarse clock (a kernel build option; 1000 is common). */
const HZ = 1000n;
/** ktime_get_coarse_ns resolution: one tick. */
const TICK_NS = 1_000_000_000n / HZ;
/** BPF_F_SKIP_FIELD_MASK, BPF_F_USER_STACK, BPF_F_USER_BUILD_ID. */
const SKIP_MASK = 0xff;
const USER_STACK = 1 << 8;
const USER_BUILD_ID = 1 << 11;
/** struct bpf_stack_build_id: status(4) build_id(20) offset-or-ip(8). */
const BUILD_ID_ENTRY = 32;
const BPF_STACK_BUILD_ID_IP = 2;
/** BPF_STRTOX_BASE_MASK. */
const STRTOX_BASE_MASK = 0x1f;

const textEncoder = new TextEncoder();

/** The format's bytes up to its NUL, or undefined when there is no NUL within `size` (the kernel's -EINVAL). */
function formatBytes(call: HelperCall, n: 1 | 3, size: number): Uint8Array | undefined {
  if (size === 0) return undefined;
  const bytes = call.bytes(n, size, false);
  const nul = bytes.indexOf(0);
  return nul < 0 ? undefined : bytes.slice(0, nul);
}

/** The u64 argument array of trace_vprintk / snprintf (data, data_len): -EINVAL shapes give undefined. */
function argumentArray(call: HelperCall, dataArg: 3 | 4, lengthArg: 4 | 5): bigint[] | undefined {
  const length = call.arg(lengthArg);
  if (length % 8 !== 0 || length / 8 > MAX_PRINTF_ARGS) return undefined;
  if (length === 0) return [];
  const bytes = call.bytes(dataArg, length, false);
  const view = new DataView(bytes.buffer, bytes.byteOffset, length);
  return Array.from({ length: length / 8 }, (_, i) => view.getBigUint64(8 * i, true));
}

function printTrace(call: HelperCall, format: Uint8Array | undefined, args: bigint[]): number {
  if (format === undefined) return EINVAL;
  const env = environmentOf(call);
  const result = formatBpf(format, args, call.memory, env.event.memory);
  if (!result.ok) return EINVAL;
  // bstr_printf into a 1024-byte buffer: the line is cut there, the return value counts what would have been written.
  env.print(result.text.slice(0, TRACE_PRINTK_SIZE - 1));
  return Math.min(result.text.length, TRACE_PRINTK_SIZE - 1);
}

function traceNs(call: HelperCall): bigint {
  return environmentOf(call).clock();
}

/** __bpf_strtoull: [consumed, value, negative] or a negative errno. */
function parseInteger(call: HelperCall): [number, bigint, boolean] | number {
  const length = call.arg(2);
  const flags = call.argU64(3);
  if (length === 0) return EINVAL;
  if ((flags & ~BigInt(STRTOX_BASE_MASK)) !== 0n) return EINVAL;
  let base = Number(flags);
  if (base !== 0 && base !== 8 && base !== 10 && base !== 16) return EINVAL;
  const text = call.bytes(1, length, false);
  let at = 0;
  while (at < length && (text[at] === 0x20 || (text[at]! >= 9 && text[at]! <= 13))) at++;
  const negative = at < length && text[at] === 0x2d;
  if (negative) at++;
  if (at >= length) return EINVAL;
  // The kernel copies at most 63 bytes of the number into a NUL-terminated buffer.
  const digits = text.subarray(at, Math.min(length, at + 63));
  let d = 0;
  const lower = (i: number): number => (digits[i] ?? 0) | 0x20;
  const isHex = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66);
  if (base === 0) {
    if (digits[0] === 0x30) base = lower(1) === 0x78 && isHex(lower(2)) ? 16 : 8;
    else base = 10;
  }
  if (base === 16 && digits[0] === 0x30 && lower(1) === 0x78) d = 2;
  const start = d;
  let value = 0n;
  for (; d < digits.length; d++) {
    const c = lower(d);
    const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x7a ? c - 0x61 + 10 : 99;
    if (digit >= base) break;
    value = value * BigInt(base) + BigInt(digit);
    if (value >= 1n << 64n) return ERANGE;
  }
  if (d === start) return EINVAL;
  return [at + d, value, negative];
}

function writeResult(call: HelperCall, value: bigint): void {
  const out = call.bytes(4, 8, true);
  new DataView(out.buffer, out.byteOffset, 8).setBigUint64(0, BigInt.asUintN(64, value), true);
}

function probeRead(call: HelperCall): number {
  const size = call.arg(2);
  const dst = call.bytes(1, size, true);
  const src = readUnsafe(call.memory, environmentOf(call).event.memory, call.argU64(3), size);
  if (src === undefined) {
    dst.fill(0);
    return EFAULT;
  }
  dst.set(src);
  return 0;
}

function probeReadString(call: HelperCall): number {
  const size = call.arg(2);
  if (size === 0) return 0;
  const dst = call.bytes(1, size, true);
  const found = readUnsafeString(call.memory, environmentOf(call).event.memory, call.argU64(3), size - 1);
  if (found === undefined || found.faulted) {
    dst.fill(0);
    return EFAULT;
  }
  dst.set(found.bytes);
  dst[found.bytes.length] = 0;
  return found.bytes.length + 1;
}

function currentProcess(call: HelperCall): { pid: number; tgid: number; uid: number; gid: number; comm: string; cgroupId: bigint } {
  const env = environmentOf(call);
  const p = env.event.process;
  // Without a supplied task the event runs in the idle task of its CPU, as an interrupt would.
  if (p === undefined) return { pid: 0, tgid: 0, uid: 0, gid: 0, comm: `swapper/${env.event.cpu ?? 0}`, cgroupId: 1n };
  return { pid: p.pid, tgid: p.tgid ?? p.pid, uid: p.uid, gid: p.gid, comm: p.comm, cgroupId: p.cgroupId ?? 1n };
}

function getStack(call: HelperCall): number {
  const size = call.arg(3);
  const flags = call.argU64(4);
  const buffer = call.bytes(2, size, true);
  buffer.fill(0);
  if ((flags & ~BigInt(SKIP_MASK | USER_STACK | USER_BUILD_ID)) !== 0n) return EINVAL;
  const user = (flags & BigInt(USER_STACK)) !== 0n;
  const buildId = (flags & BigInt(USER_BUILD_ID)) !== 0n;
  if (buildId && !user) return EINVAL;
  const entry = buildId ? BUILD_ID_ENTRY : 8;
  if (size % entry !== 0) return EINVAL;
  const event = environmentOf(call).event;
  const stack = user ? event.userStack : event.kernelStack;
  if (stack === undefined) return EFAULT;
  const frames = stack.slice(Number(flags & BigInt(SKIP_MASK))).slice(0, size / entry);
  const view = new DataView(buffer.buffer, buffer.byteOffset, size);
  frames.forEach((ip, i) => {
    if (buildId) {
      // No build ids in user space: every frame falls back to its IP, as the kernel does when it cannot read one.
      view.setUint32(i * entry, BPF_STACK_BUILD_ID_IP, true);
      view.setBigUint64(i * entry + 24, ip, true);
    } else view.setBigUint64(i * entry, ip, true);
  });
  return frames.length * entry;
}

function spinLock(call: HelperCall, lock: boolean): void {
  const address = call.pointer(1, 4, true);
  const held = environmentOf(call).heldLocks;
  const word = call.memory.view;
  if (lock) {
    if (held.has(address) || word.getUint32(address, true) !== 0) {
      throw new HelperEnvironmentError(`instruction ${call.pc}: bpf_spin_lock on a lock at 0x${address.toString(16)} that is already held (this would deadlock in the kernel)`);
    }
    held.add(address);
    call.memory.view.setUint32(address, 1, true);
  } else {
    if (!held.delete(address)) throw new HelperEnvironmentError(`instruction ${call.pc}: bpf_spin_unlock of a lock at 0x${address.toString(16)} that is not held`);
    call.memory.view.setUint32(address, 0, true);
  }
}

/** Registers the helpers of this file (by kernel helper id). */
export function registerCoreHelpers(registry: HelperRegistry): void {
  registry
    .register(5, (call) => traceNs(call)) // ktime_get_ns
    .register(125, (call) => traceNs(call)) // ktime_get_boot_ns: no suspend in a VM, same clock
    .register(160, (call) => (traceNs(call) / TICK_NS) * TICK_NS) // ktime_get_coarse_ns
    .register(208, (call) => traceNs(call)) // ktime_get_tai_ns
    .register(118, (call) => (traceNs(call) * HZ) / 1_000_000_000n) // jiffies64
    .register(7, (call) => environmentOf(call).random() >>> 0) // get_prandom_u32
    .register(8, (call) => environmentOf(call).event.cpu ?? 0) // get_smp_processor_id
    .register(42, () => 0) // get_numa_node_id
    .register(6, (call) => {
      // trace_printk(fmt, fmt_size, arg1, arg2, arg3)
      const args = [call.argU64(3), call.argU64(4), call.argU64(5)];
      return printTrace(call, formatBytes(call, 1, call.arg(2)), args);
    })
    .register(177, (call) => {
      // trace_vprintk(fmt, fmt_size, data, data_len)
      const args = argumentArray(call, 3, 4);
      return args === undefined ? EINVAL : printTrace(call, formatBytes(call, 1, call.arg(2)), args);
    })
    .register(165, (call) => {
      // snprintf(str, str_size, fmt, data, data_len): returns the length with the NUL
      const size = call.arg(2);
      const args = argumentArray(call, 4, 5);
      if (args === undefined) return EINVAL;
      const fmtAddress = call.pointer(3, 1, false);
      const format = readUnsafeString(call.memory, undefined, BigInt(fmtAddress), 0xffff);
      if (format === undefined || !format.terminated) return EINVAL;
      const result = formatBpf(format.bytes, args, call.memory, environmentOf(call).event.memory);
      if (!result.ok) return EINVAL;
      const text = textEncoder.encode(result.text);
      if (size > 0) {
        const out = call.bytes(1, size, true);
        const n = Math.min(text.length, size - 1);
        out.set(text.subarray(0, n));
        out[n] = 0;
      }
      return text.length + 1;
    })
    .register(105, (call) => {
      // strtol(buf, buf_len, flags, res)
      const parsed = parseInteger(call);
      if (typeof parsed === 'number') return parsed;
      const [consumed, value, negative] = parsed;
      if (negative ? value > 1n << 63n : value >= 1n << 63n) return ERANGE;
      writeResult(call, negative ? -value : value);
      return consumed;
    })
    .register(106, (call) => {
      // strtoul(buf, buf_len, flags, res)
      const parsed = parseInteger(call);
      if (typeof parsed === 'number') return parsed;
      const [consumed, value, negative] = parsed;
      if (negative) return EINVAL;
      writeResult(call, value);
      return consumed;
    })
    .register(182, (call) => {
      // strncmp(s1, s1_sz, s2): Linux's strncmp returns -1, 0 or 1
      const size = call.arg(2);
      const s1 = call.bytes(1, size, false).slice();
      const s2 = readUnsafeString(call.memory, undefined, BigInt(call.pointer(3, 1, false)), size);
      if (s2 === undefined) return EFAULT;
      for (let i = 0; i < size; i++) {
        const a = s1[i]!;
        const b = s2.bytes[i] ?? 0;
        if (a !== b) return a < b ? -1 : 1;
        if (a === 0) return 0;
      }
      return 0;
    })
    .register(14, (call) => {
      const p = currentProcess(call);
      return (BigInt(p.tgid >>> 0) << 32n) | BigInt(p.pid >>> 0);
    })
    .register(15, (call) => {
      const p = currentProcess(call);
      return (BigInt(p.gid >>> 0) << 32n) | BigInt(p.uid >>> 0);
    })
    .register(16, (call) => {
      // get_current_comm(buf, size): strscpy_pad
      const size = call.arg(2);
      const out = call.bytes(1, size, true);
      out.fill(0);
      if (size === 0) return EINVAL;
      const comm = textEncoder.encode(currentProcess(call).comm).subarray(0, Math.min(TASK_COMM_LEN - 1, size - 1));
      out.set(comm);
      return 0;
    })
    .register(80, (call) => currentProcess(call).cgroupId)
    .register(4, probeRead) // probe_read
    .register(112, probeRead) // probe_read_user
    .register(113, probeRead) // probe_read_kernel
    .register(45, probeReadString) // probe_read_str
    .register(114, probeReadString) // probe_read_user_str
    .register(115, probeReadString) // probe_read_kernel_str
    .register(67, getStack)
    .register(93, (call) => spinLock(call, true))
    .register(94, (call) => spinLock(call, false));
}

