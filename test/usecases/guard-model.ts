/**
 * A reference model of examples/ddos/xdp_guard.c, written from its
 * documented rules (not from its code), in which the tests compute the
 * verdict and reason of every packet: the program must agree on each one.
 */
import type { GuardConfig, RateLimit } from '../../src/tools/ddos/index.ts';
import type { CounterName } from '../../src/tools/ddos/index.ts';

interface Bucket {
  tokens: bigint;
  last: bigint;
}

const TOKEN = 1_000_000_000n;

function take(bucket: Bucket, limit: RateLimit, now: bigint): boolean {
  if (limit.perSecond === 0) return true;
  const rate = BigInt(limit.perSecond);
  const capacity = BigInt(limit.burst) * TOKEN;
  if (bucket.last === 0n || now < bucket.last || (now - bucket.last) * rate >= capacity) bucket.tokens = capacity;
  else bucket.tokens = bucket.tokens + (now - bucket.last) * rate > capacity ? capacity : bucket.tokens + (now - bucket.last) * rate;
  bucket.last = now;
  if (bucket.tokens < TOKEN) return false;
  bucket.tokens -= TOKEN;
  return true;
}

function inPrefixes(address: Uint8Array, prefixes: GuardConfig['allow']): boolean {
  return prefixes.some((p) => {
    if (p.address.length !== address.length) return false;
    for (let bit = 0; bit < p.length; bit++) {
      const mask = 0x80 >> (bit & 7);
      if ((address[bit >> 3]! & mask) !== (p.address[bit >> 3]! & mask)) return false;
    }
    return true;
  });
}

export class GuardModel {
  readonly counts: Record<CounterName, number> = { passed: 0, allowlisted: 0, denylisted: 0, rate_limited: 0, syn_flood: 0, malformed: 0 };
  readonly #sources = new Map<string, { packets: Bucket; syns: Bucket; verified: boolean }>();
  readonly #global: Bucket = { tokens: 0n, last: 0n };

  constructor(private readonly config: GuardConfig) {}

  /** The reason the guard counts `frame` under at time `now` (ns). */
  decide(frame: Uint8Array, now: bigint): CounterName {
    const reason = this.#decide(frame, now);
    this.counts[reason]++;
    return reason;
  }

  #decide(frame: Uint8Array, now: bigint): CounterName {
    if (frame.length < 14) return 'malformed';
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const isVlan = (type: number): boolean => type === 0x8100 || type === 0x88a8;
    let etherType = view.getUint16(12);
    let l3 = 14;
    for (let tags = 0; tags < 2 && isVlan(etherType); tags++) {
      if (frame.length < l3 + 4) return 'malformed';
      etherType = view.getUint16(l3 + 2);
      l3 += 4;
    }
    if (isVlan(etherType)) return 'malformed';
    let source: Uint8Array;
    let protocol: number;
    let l4: number;
    if (etherType === 0x0800) {
      if (frame.length < l3 + 20 || frame[l3]! >> 4 !== 4 || (frame[l3]! & 15) < 5) return 'malformed';
      const headerLength = (frame[l3]! & 15) * 4;
      l4 = l3 + headerLength;
      if (l4 > frame.length || view.getUint16(l3 + 2) < headerLength) return 'malformed';
      source = frame.slice(l3 + 12, l3 + 16);
      protocol = (view.getUint16(l3 + 6) & 0x1fff) !== 0 ? 0 : frame[l3 + 9]!;
    } else if (etherType === 0x86dd) {
      if (frame.length < l3 + 40 || frame[l3]! >> 4 !== 6) return 'malformed';
      l4 = l3 + 40;
      source = frame.slice(l3 + 8, l3 + 24);
      protocol = frame[l3 + 6]!;
    } else return 'passed';
    if (inPrefixes(source, this.config.allow)) return 'allowlisted';
    if (inPrefixes(source, this.config.deny)) return 'denylisted';
    let flags = -1;
    if (protocol === 6) {
      if (l4 + 20 > frame.length || frame[l4 + 12]! >> 4 < 5) return 'malformed';
      flags = frame[l4 + 13]!;
      if (flags & 0x02 && flags & 0x05) return 'malformed';
    }
    const key = Buffer.from(source).toString('hex');
    let state = this.#sources.get(key);
    if (!state) this.#sources.set(key, (state = { packets: { tokens: 0n, last: 0n }, syns: { tokens: 0n, last: 0n }, verified: false }));
    if (!take(state.packets, this.config.source, now)) return 'rate_limited';
    const syn = flags >= 0 && (flags & 0x12) === 0x02;
    if (syn) {
      if (!take(state.syns, this.config.sourceSyn, now)) return 'syn_flood';
      if (!take(this.#global, this.config.globalSyn, now) && !state.verified) return 'syn_flood';
    } else if (flags >= 0 && (flags & 0x12) === 0x10) state.verified = true;
    return 'passed';
  }
}
