/**
 * Varied Ethernet traffic for filter tests and benchmarks, from a seeded
 * generator: IPv4 and IPv6 (TCP with every flag mix, UDP, ICMP, ICMPv6),
 * IPv4 options, first and later fragments, IPv6 fragment headers, 802.1Q
 * and QinQ tags, MPLS label stacks, ARP and RARP, LLC frames, broadcast
 * and multicast addresses, truncated captures and runt frames.
 */
import { seededRandom } from '../support/random.ts';
import { buildPacket, ethernet, icmp, icmpv6, ipv4, ipv6, payload, tcp, udp, vlan, type Layer, type PacketRecord } from '../../src/net/index.ts';

export const HOSTS_V4 = ['10.0.0.1', '10.0.0.2', '10.1.2.3', '192.168.1.5', '192.168.7.9', '8.8.8.8', '172.16.0.10', '224.0.0.5', '255.255.255.255', '239.1.1.1'];
export const HOSTS_V6 = ['2001:db8::1', '2001:db8::2', 'fe80::1', '2001:db8:1::42', 'ff02::1', '::1'];
export const MACS = ['02:00:00:00:00:01', '02:00:00:00:00:02', '00:11:22:33:44:55', 'ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:05', '33:33:00:00:00:01'];
export const PORTS = [22, 53, 80, 443, 123, 1000, 1500, 2000, 8080, 5353, 65535, 0];

export interface TrafficOptions {
  seed?: number;
  count?: number;
  /** Leave out 802.1Q/QinQ frames (the kernel moves the tag to metadata before packet sockets see a frame). */
  vlan?: boolean;
  /** Leave out frames shorter than the Ethernet header and truncated captures. */
  runts?: boolean;
}

function arp(rarp: boolean, sender: string, target: string, op: number): Layer[] {
  const body = new Uint8Array(28);
  const view = new DataView(body.buffer);
  view.setUint16(0, 1);
  view.setUint16(2, 0x0800);
  body[4] = 6;
  body[5] = 4;
  view.setUint16(6, op);
  body.set([2, 0, 0, 0, 0, 1], 8);
  body.set(sender.split('.').map(Number), 14);
  body.set(target.split('.').map(Number), 24);
  return [ethernet({ dst: 'ff:ff:ff:ff:ff:ff', type: rarp ? 0x8035 : 0x0806 }), payload(body)];
}

/** IPv6 fragment header (next header, offset, M flag, id) then a transport header as raw bytes. */
function ipv6Fragment(next: number, offset: number, more: boolean, inner: Uint8Array): Uint8Array {
  const header = new Uint8Array(8);
  header[0] = next;
  const field = (offset << 3) | (more ? 1 : 0);
  header[2] = field >> 8;
  header[3] = field & 0xff;
  header[7] = 7;
  const out = new Uint8Array(8 + inner.length);
  out.set(header);
  out.set(inner, 8);
  return out;
}

/** The packets, each with a distinct timestamp (its index in microseconds) so filtered copies can be matched back. */
export function buildTraffic(options: TrafficOptions = {}): PacketRecord[] {
  const rand = seededRandom(options.seed ?? 1);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const count = options.count ?? 600;
  const packets: PacketRecord[] = [];
  const withVlan = options.vlan ?? true;
  const withRunts = options.runts ?? true;
  while (packets.length < count) {
    const kind = Math.floor(rand() * 20);
    const eth = (type?: number): Layer => ethernet({ src: pick(MACS), dst: rand() < 0.2 ? pick(MACS.slice(3)) : pick(MACS), ...(type !== undefined ? { type } : {}) });
    const transport = (): Layer[] => {
      const which = rand();
      if (which < 0.45) return [tcp({ sport: pick(PORTS), dport: pick(PORTS), flags: Math.floor(rand() * 256), seq: Math.floor(rand() * 2 ** 32) }), payload(Math.floor(rand() * 80))];
      if (which < 0.75) return [udp({ sport: pick(PORTS), dport: pick(PORTS) }), payload(Math.floor(rand() * 60))];
      return [icmp({ type: pick([0, 3, 8, 11, 5]), code: Math.floor(rand() * 4) }), payload(Math.floor(rand() * 30))];
    };
    const v4 = (extra: Partial<Parameters<typeof ipv4>[0]> = {}): Layer => ipv4({ src: pick(HOSTS_V4), dst: pick(HOSTS_V4), ttl: 1 + Math.floor(rand() * 255), tos: rand() < 0.2 ? 0x10 : 0, ...extra });
    const v6transport = (): Layer[] => {
      const which = rand();
      if (which < 0.45) return [tcp({ sport: pick(PORTS), dport: pick(PORTS), flags: Math.floor(rand() * 256) }), payload(Math.floor(rand() * 40))];
      if (which < 0.75) return [udp({ sport: pick(PORTS), dport: pick(PORTS) }), payload(Math.floor(rand() * 40))];
      return [icmpv6({ type: pick([128, 129, 135, 136, 1]) }), payload(8)];
    };
    const v6 = (): Layer => ipv6({ src: pick(HOSTS_V6), dst: pick(HOSTS_V6), hopLimit: 1 + Math.floor(rand() * 255) });
    let layers: Layer[];
    if (kind <= 5) layers = [eth(), v4(), ...transport()];
    else if (kind === 6) layers = [eth(), v4({ options: new Uint8Array(4 * (1 + Math.floor(rand() * 3))).fill(1) }), ...transport()];
    else if (kind === 7) layers = [eth(), v4({ flags: 1, fragmentOffset: 0 }), ...transport()];
    else if (kind === 8) layers = [eth(), v4({ flags: rand() < 0.5 ? 1 : 0, fragmentOffset: 1 + Math.floor(rand() * 100), protocol: pick([6, 17, 1]) }), payload(24)];
    else if (kind <= 11) layers = [eth(), v6(), ...v6transport()];
    else if (kind === 12) {
      const next = rand() < 0.5 ? 6 : 17;
      const transportBytes = buildPacket(next === 6 ? tcp({ sport: pick(PORTS), dport: pick(PORTS), flags: 2, checksum: 0 }) : udp({ sport: pick(PORTS), dport: pick(PORTS), checksum: 0 }));
      layers = [eth(), ipv6({ src: pick(HOSTS_V6), dst: pick(HOSTS_V6), nextHeader: 44 }), payload(ipv6Fragment(next, rand() < 0.5 ? 0 : 10, rand() < 0.5, transportBytes))];
    } else if (kind === 13) {
      if (!withVlan) continue;
      const outer = rand() < 0.3;
      layers = outer ? [eth(), vlan({ id: pick([10, 20, 100]), tpid: 0x88a8 }), vlan({ id: pick([10, 20, 4095]) }), rand() < 0.5 ? v4() : v6(), ...transport()] : [eth(), vlan({ id: pick([1, 10, 20, 100, 4095]), priority: Math.floor(rand() * 8) }), rand() < 0.6 ? v4() : v6(), ...(rand() < 0.5 ? transport() : v6transport())];
    } else if (kind === 14) {
      // MPLS: one or two labels, bottom of stack set on the last, then IPv4 or IPv6.
      const labels = rand() < 0.5 ? [pick([100, 200, 0xfffff])] : [pick([100, 300]), pick([1024, 16])];
      const stack = new Uint8Array(labels.length * 4);
      labels.forEach((label, i) => {
        const word = ((label << 12) | (i === labels.length - 1 ? 0x100 : 0) | 64) >>> 0;
        new DataView(stack.buffer).setUint32(i * 4, word);
      });
      const inner = rand() < 0.7 ? buildPacket(v4(), ...transport()) : buildPacket(v6(), ...v6transport());
      layers = [eth(0x8847), payload(stack), payload(inner)];
    } else if (kind === 15) layers = arp(rand() < 0.3, pick(HOSTS_V4), pick(HOSTS_V4), pick([1, 2, 3, 4]));
    else if (kind === 16) layers = [eth(Math.floor(rand() * 1500)), payload(new Uint8Array([0x42, 0x42, 0x03, ...new Array(40).fill(0)]))];
    else if (kind === 17) {
      if (!withRunts) continue;
      const frame = buildPacket(eth(), v4(), ...transport());
      packets.push({ data: frame.subarray(0, 14 + Math.floor(rand() * 30)), originalLength: frame.length, timestamp: BigInt(packets.length) * 1000n });
      continue;
    } else if (kind === 18) {
      if (!withRunts) continue;
      packets.push({ data: Uint8Array.from({ length: Math.floor(rand() * 14) }, () => Math.floor(rand() * 256)), timestamp: BigInt(packets.length) * 1000n });
      continue;
    } else layers = [eth(), v4({ protocol: pick([47, 50, 51, 132, 89, 2]) }), payload(Math.floor(rand() * 40))];
    packets.push({ data: buildPacket(...layers), timestamp: BigInt(packets.length) * 1000n });
  }
  return packets;
}
