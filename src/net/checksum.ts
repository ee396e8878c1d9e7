/**
 * The Internet checksum (RFC 1071) and its incremental forms (RFC 1624),
 * shared by the packet builders and the VM's checksum helpers
 * (csum_diff, l3_csum_replace, l4_csum_replace).
 */

/**
 * One's-complement sum of `bytes[start, end)` as big-endian 16-bit words,
 * added to `initial`, folded to 16 bits (not complemented). An odd trailing
 * byte is padded with zero, as RFC 1071 says.
 */
export function onesComplementSum(bytes: Uint8Array, start = 0, end = bytes.length, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (i < end) sum += bytes[i]! << 8;
  return fold16(sum);
}

/** Folds carries of a 32-bit-or-wider sum into 16 bits. */
export function fold16(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum to store in a header: the complement of the sum (0xffff never becomes 0 here). */
export function internetChecksum(bytes: Uint8Array, start = 0, end = bytes.length, initial = 0): number {
  return ~onesComplementSum(bytes, start, end, initial) & 0xffff;
}

/**
 * RFC 1624 eqn. 3: the new stored checksum after a 16-bit field of the
 * covered data changes from `oldValue` to `newValue`.
 */
export function updateChecksum16(checksum: number, oldValue: number, newValue: number): number {
  return ~fold16((~checksum & 0xffff) + (~oldValue & 0xffff) + (newValue & 0xffff)) & 0xffff;
}

/** As `updateChecksum16` for a 32-bit field (e.g. an IPv4 address). */
export function updateChecksum32(checksum: number, oldValue: number, newValue: number): number {
  const step = updateChecksum16(checksum, oldValue >>> 16, newValue >>> 16);
  return updateChecksum16(step, oldValue & 0xffff, newValue & 0xffff);
}
