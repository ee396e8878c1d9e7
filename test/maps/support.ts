import assert from 'node:assert/strict';
import { MapError } from '../../src/maps/errors.ts';

export const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
export const u64 = (n: bigint): Uint8Array => new Uint8Array(new BigUint64Array([n]).buffer);
export const readU32 = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset).getUint32(0, true);

/** The errno name of the MapError `fn` throws. */
export function errnoOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof MapError, `expected a MapError, got ${String(error)}`);
    return error.code;
  }
  return assert.fail('expected a MapError');
}

/** An LPM trie key: u32 prefix length then the address bytes. */
export function lpmKey(prefixLen: number, bytes: number[]): Uint8Array {
  const key = new Uint8Array(4 + bytes.length);
  new DataView(key.buffer).setUint32(0, prefixLen, true);
  key.set(bytes, 4);
  return key;
}
