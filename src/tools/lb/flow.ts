/**
 * The flow hash of examples/lb/xdp_lb.c (murmur3's mixing of the 5-tuple's
 * 32-bit words as they lie in the packet, little-endian loads), so that user
 * space can tell which slot, hence which backend, a flow maps to.
 */
export interface Flow {
  /** Dotted IPv4 addresses. */
  src: string;
  dst: string;
  sport: number;
  dport: number;
  /** 6 (TCP) or 17 (UDP). */
  protocol: number;
}

function mix(h: number, word: number): number {
  let k = Math.imul(word >>> 0, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) >>> 0;
}

/** An address's 4 bytes read as the program reads them: a little-endian u32 of network-order bytes. */
function addressWord(address: string): number {
  const parts = address.split('.').map(Number);
  return ((parts[0]! | (parts[1]! << 8) | (parts[2]! << 16) | (parts[3]! << 24)) >>> 0);
}

/** Network-order u16 loaded little-endian. */
const portWord = (port: number): number => ((port >> 8) | ((port & 0xff) << 8)) & 0xffff;

export function flowHash(flow: Flow): number {
  let h = 0x4c42;
  h = mix(h, addressWord(flow.src));
  h = mix(h, addressWord(flow.dst));
  h = mix(h, (portWord(flow.sport) | (portWord(flow.dport) << 16)) >>> 0);
  h = mix(h, flow.protocol);
  h ^= 16;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The table slot of `flow`. */
export function flowSlot(flow: Flow, tableSize: number): number {
  return flowHash(flow) % tableSize;
}
