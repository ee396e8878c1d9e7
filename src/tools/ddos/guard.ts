/**
 * Drives examples/ddos/xdp_guard.c's maps on either backend: writes a
 * configuration (rates into `config`, prefixes into the allow/deny LPM
 * tries, changing only what differs, so that a reload never detaches the
 * program nor forgets the sources' buckets) and reads the per-CPU drop
 * counters.
 */
import type { BpfCollection, BpfMap } from '../../backend/index.ts';
import type { GuardConfig, Prefix, RateLimit } from './config.ts';

/** The program's counters, in the order of its enum counter. */
export const COUNTER_NAMES = ['passed', 'allowlisted', 'denylisted', 'rate_limited', 'syn_flood', 'malformed'] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];
export type GuardCounters = Record<CounterName, bigint>;

const NS_PER_TOKEN = 1_000_000_000n;

/** struct bucket_config: rate per second, capacity in 1e-9 tokens, ns to fill from empty. */
function bucketConfig(view: DataView, offset: number, limit: RateLimit): void {
  const rate = BigInt(limit.perSecond);
  const capacity = BigInt(limit.burst) * NS_PER_TOKEN;
  view.setBigUint64(offset, rate, true);
  view.setBigUint64(offset + 8, capacity, true);
  view.setBigUint64(offset + 16, rate === 0n ? 0n : (capacity + rate - 1n) / rate, true);
}

/** struct guard_config's bytes. */
export function encodeGuardConfig(config: GuardConfig): Uint8Array {
  const bytes = new Uint8Array(72);
  const view = new DataView(bytes.buffer);
  bucketConfig(view, 0, config.source);
  bucketConfig(view, 24, config.sourceSyn);
  bucketConfig(view, 48, config.globalSyn);
  return bytes;
}

/** struct lpm_v4_key / lpm_v6_key. */
export function lpmKey(prefix: Prefix): Uint8Array {
  const key = new Uint8Array(4 + prefix.address.length);
  new DataView(key.buffer).setUint32(0, prefix.length, true);
  key.set(prefix.address, 4);
  return key;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** Makes the trie hold exactly `wanted`: deletes the others, adds the missing; returns how many changed. */
function syncTrie(map: BpfMap, wanted: Prefix[]): number {
  const want = new Map(wanted.map((p) => [hex(lpmKey(p)), lpmKey(p)]));
  let changed = 0;
  for (const key of [...map.keys()]) {
    if (want.delete(hex(key))) continue;
    map.delete(key);
    changed++;
  }
  for (const key of want.values()) {
    map.update(key, Uint8Array.of(1));
    changed++;
  }
  return changed;
}

export interface ApplyResult {
  /** Trie entries added or removed. */
  prefixesChanged: number;
}

/** Writes `config` into a loaded xdp_guard collection (kernel or VM) without detaching anything. */
export function applyGuardConfig(collection: Pick<BpfCollection, 'map'>, config: GuardConfig): ApplyResult {
  collection.map('config').update(new Uint8Array(4), encodeGuardConfig(config));
  const byFamily = (list: Prefix[], family: 4 | 6): Prefix[] => list.filter((p) => p.family === family);
  const prefixesChanged =
    syncTrie(collection.map('allow_v4'), byFamily(config.allow, 4)) +
    syncTrie(collection.map('allow_v6'), byFamily(config.allow, 6)) +
    syncTrie(collection.map('deny_v4'), byFamily(config.deny, 4)) +
    syncTrie(collection.map('deny_v6'), byFamily(config.deny, 6));
  return { prefixesChanged };
}

/** The counters summed over CPUs. */
export function readGuardCounters(collection: Pick<BpfCollection, 'map'>): GuardCounters {
  const map = collection.map('counters');
  const result = {} as GuardCounters;
  COUNTER_NAMES.forEach((name, index) => {
    const key = new Uint8Array(4);
    new DataView(key.buffer).setUint32(0, index, true);
    const perCpu = map.lookupPerCpu(key) ?? [];
    result[name] = perCpu.reduce((sum, value) => sum + new DataView(value.buffer, value.byteOffset).getBigUint64(0, true), 0n);
  });
  return result;
}

/** Counters as a JSON-friendly object of numbers. */
export function countersToJson(counters: GuardCounters): Record<CounterName, number> {
  return Object.fromEntries(COUNTER_NAMES.map((n) => [n, Number(counters[n])])) as Record<CounterName, number>;
}

/** The BPF source of the guard, relative to the package's examples/. */
export const GUARD_SOURCE = 'ddos/xdp_guard.c';
