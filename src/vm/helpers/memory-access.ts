/**
 * Reads of memory a helper is handed as an "unsafe" pointer (probe_read*,
 * %s in trace_printk): the event's user-supplied ranges first, then the
 * VM's own regions (a pointer to the program's stack or a map value).
 * Anything else is a fault, reported as undefined so the helper can return
 * -EFAULT as the kernel's nofault copies do.
 */
import type { VmMemory } from '../memory.ts';
import type { MemoryRange } from './environment.ts';

function fromRanges(ranges: readonly MemoryRange[] | undefined, address: bigint, size: number): Uint8Array | undefined {
  for (const range of ranges ?? []) {
    const at = address - range.address;
    if (at >= 0n && at + BigInt(size) <= BigInt(range.bytes.length)) return range.bytes.subarray(Number(at), Number(at) + size);
  }
  return undefined;
}

function vmAddress(address: bigint): number | undefined {
  return address >= 0n && address < 0x1_0000_0000n ? Number(address) : undefined;
}

/** `size` bytes at `address`, or undefined if any of them is unreadable. */
export function readUnsafe(memory: VmMemory, ranges: readonly MemoryRange[] | undefined, address: bigint, size: number): Uint8Array | undefined {
  if (size === 0) return new Uint8Array(0);
  const ranged = fromRanges(ranges, address, size);
  if (ranged !== undefined) return ranged;
  const at = vmAddress(address);
  if (at === undefined || memory.regionAt(at, size) === undefined) return undefined;
  return memory.u8.subarray(at, at + size);
}

/**
 * A NUL-terminated string at `address`, at most `max` bytes before the NUL.
 * Returns the bytes without the NUL and whether the NUL was found within
 * `max`; undefined when the first byte is unreadable. Stops at the first
 * unreadable byte, as strncpy_from_kernel_nofault does.
 */
export function readUnsafeString(
  memory: VmMemory,
  ranges: readonly MemoryRange[] | undefined,
  address: bigint,
  max: number,
): { bytes: Uint8Array; terminated: boolean; faulted: boolean } | undefined {
  let source: Uint8Array | undefined;
  let start = 0;
  for (const range of ranges ?? []) {
    const at = address - range.address;
    if (at >= 0n && at < BigInt(range.bytes.length)) {
      source = range.bytes;
      start = Number(at);
      break;
    }
  }
  if (source === undefined) {
    const at = vmAddress(address);
    const region = at === undefined ? undefined : memory.regionAt(at, 1);
    if (region === undefined) return undefined;
    source = memory.u8.subarray(0, region.start + region.size);
    start = at!;
  }
  const limit = Math.min(source.length, start + max);
  let end = start;
  while (end < limit && source[end] !== 0) end++;
  const terminated = end < limit;
  return { bytes: source.slice(start, end), terminated, faulted: !terminated && end === source.length && end - start < max };
}
