/**
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016, section 3.4): each
 * backend has a permutation of the table's slots given by an offset and a
 * skip derived from two hashes of its name; backends take turns claiming
 * the next free slot of their permutation until the table is full. Every
 * backend gets M/N slots (±1), and removing one of N backends reassigns
 * its slots and few others, so few flows move.
 */
import { TsbpfError } from '../../errors.ts';

export class MaglevError extends TsbpfError {
  override name = 'MaglevError';
}

/** The paper's table size, a prime much larger than the number of backends. */
export const DEFAULT_TABLE_SIZE = 65537;
/** A table bigger than this would not fit the program's array map comfortably. */
export const MAX_TABLE_SIZE = 1_000_003;

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

/** 32-bit FNV-1a of `text` from `basis`: two bases give the paper's two independent hashes. */
function fnv1a(text: string, basis: number): number {
  let h = basis >>> 0;
  for (const byte of new TextEncoder().encode(text)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // FNV's low bits mix poorly for short strings: finish with murmur3's avalanche.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

export interface MaglevBackend {
  /** Stable name: the permutation depends on it only, so a backend keeps its slots across rebuilds. */
  name: string;
  /** The id written into the table (the backend's index in the program's backends map). */
  id: number;
}

/**
 * The lookup table of `backends` (size a prime): slot → backend id. The
 * order of `backends` does not matter (they take turns in name order).
 */
export function buildMaglevTable(backends: readonly MaglevBackend[], size = DEFAULT_TABLE_SIZE): Uint32Array {
  if (!isPrime(size) || size > MAX_TABLE_SIZE) throw new MaglevError(`the Maglev table size must be a prime up to ${MAX_TABLE_SIZE}, got ${size}`);
  if (backends.length === 0) throw new MaglevError('a Maglev table needs at least one backend');
  if (backends.length > size) throw new MaglevError(`${backends.length} backends do not fit a table of ${size} slots`);
  const names = new Set<string>();
  for (const b of backends) {
    if (names.has(b.name)) throw new MaglevError(`backend name '${b.name}' appears twice`);
    names.add(b.name);
  }
  const sorted = [...backends].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const offsets = sorted.map((b) => fnv1a(b.name, 0x811c9dc5) % size);
  const skips = sorted.map((b) => (fnv1a(b.name, 0x050c5d1f) % (size - 1)) + 1);
  const next = new Uint32Array(sorted.length);
  const table = new Int32Array(size).fill(-1);
  let filled = 0;
  for (;;) {
    for (let i = 0; i < sorted.length; i++) {
      // Slot for permutation index j: (offset + j × skip) mod M; skip < M and M prime, so this visits every slot.
      let slot = (offsets[i]! + ((next[i]! * skips[i]!) % size)) % size;
      while (table[slot]! >= 0) {
        next[i]!++;
        slot = (offsets[i]! + ((next[i]! * skips[i]!) % size)) % size;
      }
      table[slot] = sorted[i]!.id;
      next[i]!++;
      if (++filled === size) return Uint32Array.from(table);
    }
  }
}

/** Slots whose backend differs between two tables of the same size. */
export function changedSlots(before: Uint32Array, after: Uint32Array): number[] {
  if (before.length !== after.length) throw new MaglevError(`tables of different sizes (${before.length}, ${after.length})`);
  const changed: number[] = [];
  for (let slot = 0; slot < before.length; slot++) if (before[slot] !== after[slot]) changed.push(slot);
  return changed;
}
