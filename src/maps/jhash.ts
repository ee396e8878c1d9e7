/**
 * Bob Jenkins' lookup3 hash as the kernel's include/linux/jhash.h has it
 * (jhash; jhash2 gives the same value for keys whose length is a multiple
 * of 4). Hash maps, the stack trace map and the bloom filter use it with the
 * kernel's seeds, so with BPF_F_ZERO_SEED a VM hash map puts keys in the
 * same buckets, and iterates them in the same order, as the kernel does.
 *
 * Pure 32-bit integer arithmetic over little-endian words: the same
 * function is a few dozen WebAssembly instructions (docs/maps.md).
 */

export const JHASH_INITVAL = 0xdeadbeef;

const rol = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

/** jhash(key, length, initval) over `length` bytes of `bytes` starting at `offset`. */
export function jhash(bytes: Uint8Array, offset: number, length: number, initval: number): number {
  let a = (JHASH_INITVAL + length + initval) | 0;
  let b = a;
  let c = a;
  let p = offset;
  let n = length;
  while (n > 12) {
    a = (a + (bytes[p]! | (bytes[p + 1]! << 8) | (bytes[p + 2]! << 16) | (bytes[p + 3]! << 24))) | 0;
    b = (b + (bytes[p + 4]! | (bytes[p + 5]! << 8) | (bytes[p + 6]! << 16) | (bytes[p + 7]! << 24))) | 0;
    c = (c + (bytes[p + 8]! | (bytes[p + 9]! << 8) | (bytes[p + 10]! << 16) | (bytes[p + 11]! << 24))) | 0;
    // __jhash_mix
    a = (a - c) | 0; a ^= rol(c, 4); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rol(a, 6); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rol(b, 8); b = (b + a) | 0;
    a = (a - c) | 0; a ^= rol(c, 16); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rol(a, 19); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rol(b, 4); b = (b + a) | 0;
    n -= 12;
    p += 12;
  }
  if (n === 0) return c >>> 0;
  // The kernel's fall-through switch on the 1..12 remaining bytes.
  if (n >= 12) c = (c + (bytes[p + 11]! << 24)) | 0;
  if (n >= 11) c = (c + (bytes[p + 10]! << 16)) | 0;
  if (n >= 10) c = (c + (bytes[p + 9]! << 8)) | 0;
  if (n >= 9) c = (c + bytes[p + 8]!) | 0;
  if (n >= 8) b = (b + (bytes[p + 7]! << 24)) | 0;
  if (n >= 7) b = (b + (bytes[p + 6]! << 16)) | 0;
  if (n >= 6) b = (b + (bytes[p + 5]! << 8)) | 0;
  if (n >= 5) b = (b + bytes[p + 4]!) | 0;
  if (n >= 4) a = (a + (bytes[p + 3]! << 24)) | 0;
  if (n >= 3) a = (a + (bytes[p + 2]! << 16)) | 0;
  if (n >= 2) a = (a + (bytes[p + 1]! << 8)) | 0;
  a = (a + bytes[p]!) | 0;
  // __jhash_final
  c ^= b; c = (c - rol(b, 14)) | 0;
  a ^= c; a = (a - rol(c, 11)) | 0;
  b ^= a; b = (b - rol(a, 25)) | 0;
  c ^= b; c = (c - rol(b, 16)) | 0;
  a ^= c; a = (a - rol(c, 4)) | 0;
  b ^= a; b = (b - rol(a, 14)) | 0;
  c ^= b; c = (c - rol(b, 24)) | 0;
  return c >>> 0;
}
