/**
 * Attack traffic mixed with normal traffic for xdp-guard, each packet
 * labelled with what it is (written as a pcapng comment by
 * make-traffic.ts), on a timeline of two seconds:
 *
 * - legit: 4 IPv4 and 2 IPv6 clients at 20 packets/s each, TCP handshakes
 *   (SYN, then ACKs) and UDP queries, new connections during the attack;
 * - allowlisted: a monitoring host (10.99.0.1) at 500 packets/s;
 * - flood: a UDP flood from 203.0.113.7 at 5,000 packets/s;
 * - denylisted: 192.0.2.0/24 and 2001:db8:bad::/48;
 * - syn-flood: 3,000 SYNs from spoofed sources in 198.18.0.0/15;
 * - malformed: truncated and impossible headers.
 *
 * Deterministic: the same packets every time (a fixed-seed generator).
 */
import { buildPacket, ethernet, ipv4, ipv6, payload, tcp, TcpFlag, udp } from '../../src/net/index.ts';

export type TrafficLabel = 'legit' | 'allowlisted' | 'flood' | 'denylisted' | 'syn-flood' | 'malformed';

export interface LabelledPacket {
  data: Uint8Array;
  /** ns since the epoch. */
  timestamp: bigint;
  label: TrafficLabel;
}

const START_NS = 1_700_000_000_000_000_000n;
const SECOND = 1_000_000_000n;
const ATTACK_START = SECOND;

const LEGIT_V4 = ['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4'];
const LEGIT_V6 = ['2001:db8:1::1', '2001:db8:1::2'];
const SERVER_V4 = '10.0.0.80';
const SERVER_V6 = '2001:db8::80';

function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Packets at `perSecond` from `start` for `duration` ns, each built by `make(n)`. */
function stream(label: TrafficLabel, start: bigint, duration: bigint, perSecond: number, make: (n: number) => Uint8Array): LabelledPacket[] {
  const gap = SECOND / BigInt(perSecond);
  const out: LabelledPacket[] = [];
  for (let n = 0; BigInt(n) * gap < duration; n++) out.push({ data: make(n), timestamp: START_NS + start + BigInt(n) * gap, label });
  return out;
}

function ip(src: string, dst: string): ReturnType<typeof ipv4> {
  return src.includes(':') ? ipv6({ src, dst }) : ipv4({ src, dst });
}

/** A client's connection: SYN, then ACKed data every 50 ms; a new connection (SYN) every 10 packets. */
function client(address: string, index: number): LabelledPacket[] {
  const server = address.includes(':') ? SERVER_V6 : SERVER_V4;
  return stream('legit', BigInt(index) * 7_000_000n, 2n * SECOND, 20, (n) => {
    const sport = 40000 + index * 100 + Math.floor(n / 10);
    if (n % 10 === 0) return buildPacket(ethernet(), ip(address, server), tcp({ sport, dport: 443, flags: TcpFlag.SYN }));
    if (n % 10 === 5) return buildPacket(ethernet(), ip(address, server), udp({ sport, dport: 53 }), payload(30));
    return buildPacket(ethernet(), ip(address, server), tcp({ sport, dport: 443, flags: TcpFlag.ACK | TcpFlag.PSH }), payload(100));
  });
}

function malformed(): LabelledPacket[] {
  const good = buildPacket(ethernet(), ipv4({ src: '10.2.0.1', dst: SERVER_V4 }), tcp({ sport: 1, dport: 80 }));
  const good6 = buildPacket(ethernet(), ipv6({ src: '2001:db8:2::1', dst: SERVER_V6 }), tcp({ sport: 1, dport: 80 }));
  const shapes: Uint8Array[] = [
    good.slice(0, 14 + 12), // IPv4 header cut
    good.slice(0, 14 + 20 + 8), // TCP header cut
    good6.slice(0, 14 + 30), // IPv6 header cut
    buildPacket(ethernet(), ipv4({ src: '10.2.0.2', dst: SERVER_V4, options: new Uint8Array(40) }), udp()).slice(0, 14 + 40), // options past the end
    buildPacket(ethernet(), ipv4({ src: '10.2.0.3', dst: SERVER_V4 }), tcp({ flags: TcpFlag.SYN | TcpFlag.FIN })),
    buildPacket(ethernet(), ipv6({ src: '2001:db8:2::3', dst: SERVER_V6 }), tcp({ flags: TcpFlag.SYN | TcpFlag.RST })),
  ];
  // IHL below 5 and a version that is not 4.
  const shortIhl = good.slice();
  shortIhl[14] = 0x44;
  const badVersion = good.slice();
  badVersion[14] = 0x65;
  shapes.push(shortIhl, badVersion);
  return shapes.flatMap((data, shape) => stream('malformed', ATTACK_START + BigInt(shape) * 1_000_000n, SECOND / 2n, 10, () => data));
}

/** The whole capture, in time order. */
export function buildAttackTraffic(): LabelledPacket[] {
  const random = seeded(13);
  const packets: LabelledPacket[] = [
    ...LEGIT_V4.map(client).flat(),
    ...LEGIT_V6.map((a, i) => client(a, LEGIT_V4.length + i)).flat(),
    ...stream('allowlisted', 0n, 2n * SECOND, 500, (n) => buildPacket(ethernet(), ipv4({ src: '10.99.0.1', dst: SERVER_V4 }), udp({ sport: 9100, dport: 9100 + (n % 4) }), payload(64))),
    ...stream('flood', ATTACK_START, SECOND, 5000, () => buildPacket(ethernet(), ipv4({ src: '203.0.113.7', dst: SERVER_V4 }), udp({ sport: 53, dport: 53 }), payload(64))),
    ...stream('denylisted', ATTACK_START, SECOND, 300, (n) => buildPacket(ethernet(), ipv4({ src: `192.0.2.${n % 250}`, dst: SERVER_V4 }), tcp({ sport: 1024 + n, dport: 80 }))),
    ...stream('denylisted', ATTACK_START, SECOND, 100, (n) => buildPacket(ethernet(), ipv6({ src: `2001:db8:bad::${(n + 1).toString(16)}`, dst: SERVER_V6 }), udp({ sport: 1024 + n, dport: 53 }), payload(8))),
    ...stream('syn-flood', ATTACK_START, SECOND, 3000, () => {
      const source = `198.${18 + Math.floor(random() * 2)}.${Math.floor(random() * 256)}.${1 + Math.floor(random() * 254)}`;
      return buildPacket(ethernet(), ipv4({ src: source, dst: SERVER_V4 }), tcp({ sport: 1024 + Math.floor(random() * 60000), dport: 443, flags: TcpFlag.SYN }));
    }),
    ...malformed(),
  ];
  return packets.sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0));
}
