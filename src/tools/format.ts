/**
 * Output as BCC prints it: printf-style padded columns, log2 histograms
 * with a 40-wide star bar, and clock strings.
 */

/** `%-Ns`: left-justified in `width` (never truncated). */
export const left = (value: string | number, width: number): string => String(value).padEnd(width);
/** `%Ns`: right-justified in `width`. */
export const right = (value: string | number, width: number): string => String(value).padStart(width);
/** `%-N.Ns`: left-justified and cut at `width`. */
export const leftCut = (value: string, width: number): string => value.slice(0, width).padEnd(width);

/** `HH:MM:SS` of the local clock, as strftime("%H:%M:%S"). */
export function clockTime(date = new Date()): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

/** One row of a log2 histogram: values from `low` to `high` counted `count` times. */
export interface HistogramBucket {
  low: number;
  high: number;
  count: number;
}

/**
 * Buckets of a histogram kept by log2 slot (slot = bits needed for the
 * value: 0 for 0, 1 for 1, 2 for 2-3...), as BCC prints them: the first row
 * is `0 -> 1` (slots 0 and 1), then one row per power of two up to the last
 * non-empty slot.
 */
export function log2Buckets(slots: ReadonlyMap<number, number>): HistogramBucket[] {
  let last = 0;
  for (const [slot, count] of slots) if (count > 0 && slot > last) last = slot;
  if (last === 0 && !(slots.get(0) ?? 0)) return [];
  const rows: HistogramBucket[] = [];
  for (let slot = 1; slot <= Math.max(1, last); slot++) {
    const count = (slots.get(slot) ?? 0) + (slot === 1 ? (slots.get(0) ?? 0) : 0);
    rows.push({ low: slot === 1 ? 0 : 2 ** (slot - 1), high: 2 ** slot - 1, count });
  }
  return rows;
}

const STARS = 40;

/** `|****     |`: `count` scaled to `width` stars against the largest count (BCC's _stars). */
function stars(count: number, max: number, width: number): string {
  const n = max === 0 ? 0 : Math.min(width, Math.floor((width * count) / max));
  return '*'.repeat(n).padEnd(width);
}

/** A histogram as BCC's print_log2_hist prints it (`     usecs               : count     distribution`). */
export function formatLog2Histogram(buckets: readonly HistogramBucket[], unit: string): string {
  if (buckets.length === 0) return '';
  const max = Math.max(...buckets.map((b) => b.count));
  const wide = buckets.length > 32;
  const header = wide ? `               ${unit.padEnd(29)} : count     distribution` : `     ${unit.padEnd(19)} : count     distribution`;
  const width = wide ? STARS / 2 : STARS;
  const rows = buckets.map((b) => (wide ? `${right(b.low, 20)} -> ${left(b.high, 20)}` : `${right(b.low, 10)} -> ${left(b.high, 10)}`) + ` : ${left(b.count, 8)} |${stars(b.count, max, width)}|`);
  return `${header}\n${rows.join('\n')}\n`;
}

/** An IPv4 or IPv6 address from the 16 bytes the programs store (IPv4 in the first 4). */
export function formatAddress(family: number, bytes: Uint8Array): string {
  if (family === 2) return Array.from(bytes.subarray(0, 4)).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  // The longest run of two or more zero groups becomes `::` (RFC 5952).
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength && j - i >= 2) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  const head = groups.slice(0, bestStart).join(':');
  const tail = groups.slice(bestStart + bestLength).join(':');
  if (bestStart === 0 && bestLength === 5 && groups[5] === 'ffff') return `::ffff:${Array.from(bytes.subarray(12, 16)).join('.')}`;
  return `${head}::${tail}`;
}
