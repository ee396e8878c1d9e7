/**
 * Packet builders for tests and examples: a packet is a list of layers,
 * outermost first, e.g.
 *
 *   buildPacket(ethernet(), vlan({ id: 10 }), ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }), udp({ dport: 53 }), payload('hi'))
 *
 * Each layer fills in what depends on its neighbours unless given
 * explicitly: EtherType / IP protocol / next header, lengths, and the IPv4,
 * UDP, TCP, ICMP and ICMPv6 checksums (with the IPv4 or IPv6 pseudo-header).
 * `decodePacket` reads such frames back.
 */
import { formatIp, formatMac, parseIpv4, parseIpv6, parseMac } from './address.ts';
import { internetChecksum, onesComplementSum } from './checksum.ts';
import { PcapError } from './errors.ts';
import { ETH_P_8021AD, ETH_P_8021Q, ETH_P_ARP, ETH_P_IP, ETH_P_IPV6 } from './linktype.ts';

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

export const TcpFlag = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80 } as const;

export interface EthernetFields {
  src?: string;
  dst?: string;
  /** EtherType; by default that of the next layer. */
  type?: number;
}
export interface VlanFields {
  id: number;
  priority?: number;
  /** Drop eligible indicator. */
  dei?: boolean;
  /** This tag's TPID, written by the layer before it: 0x8100 (default) or 0x88a8 for an outer 802.1ad tag. */
  tpid?: number;
  type?: number;
}
export interface Ipv4Fields {
  src?: string;
  dst?: string;
  ttl?: number;
  tos?: number;
  id?: number;
  /** Flags (3 bits: 0x2 DF, 0x1 MF) and fragment offset in 8-byte units. */
  flags?: number;
  fragmentOffset?: number;
  protocol?: number;
  /** Options, padded with zeros to a multiple of 4. */
  options?: Uint8Array;
  /** Overrides the computed header checksum (to build bad packets). */
  checksum?: number;
  /** Overrides the computed total length. */
  totalLength?: number;
}
export interface Ipv6Fields {
  src?: string;
  dst?: string;
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
  nextHeader?: number;
  payloadLength?: number;
}
export interface UdpFields {
  sport?: number;
  dport?: number;
  checksum?: number;
  length?: number;
}
export interface TcpFields {
  sport?: number;
  dport?: number;
  seq?: number;
  ack?: number;
  /** TcpFlag bits (default SYN). */
  flags?: number;
  window?: number;
  urgent?: number;
  options?: Uint8Array;
  checksum?: number;
}
export interface IcmpFields {
  /** Default 8 (echo request) for ICMP, 128 for ICMPv6. */
  type?: number;
  code?: number;
  /** Echo identifier and sequence (the 4 bytes after the checksum). */
  id?: number;
  sequence?: number;
  checksum?: number;
}

export type Layer =
  | { kind: 'ethernet'; fields: EthernetFields }
  | { kind: 'vlan'; fields: VlanFields }
  | { kind: 'ipv4'; fields: Ipv4Fields }
  | { kind: 'ipv6'; fields: Ipv6Fields }
  | { kind: 'udp'; fields: UdpFields }
  | { kind: 'tcp'; fields: TcpFields }
  | { kind: 'icmp'; fields: IcmpFields }
  | { kind: 'icmpv6'; fields: IcmpFields }
  | { kind: 'payload'; bytes: Uint8Array };

export const ethernet = (fields: EthernetFields = {}): Layer => ({ kind: 'ethernet', fields });
export const vlan = (fields: VlanFields): Layer => ({ kind: 'vlan', fields });
export const ipv4 = (fields: Ipv4Fields = {}): Layer => ({ kind: 'ipv4', fields });
export const ipv6 = (fields: Ipv6Fields = {}): Layer => ({ kind: 'ipv6', fields });
export const udp = (fields: UdpFields = {}): Layer => ({ kind: 'udp', fields });
export const tcp = (fields: TcpFields = {}): Layer => ({ kind: 'tcp', fields });
export const icmp = (fields: IcmpFields = {}): Layer => ({ kind: 'icmp', fields });
export const icmpv6 = (fields: IcmpFields = {}): Layer => ({ kind: 'icmpv6', fields });
export const payload = (data: Uint8Array | string | number): Layer => ({
  kind: 'payload',
  bytes: typeof data === 'string' ? new TextEncoder().encode(data) : typeof data === 'number' ? new Uint8Array(data) : data,
});

function etherTypeOf(layer: Layer | undefined, where: string): number {
  switch (layer?.kind) {
    case 'vlan':
      return layer.fields.tpid ?? ETH_P_8021Q;
    case 'ipv4':
      return ETH_P_IP;
    case 'ipv6':
      return ETH_P_IPV6;
    default:
      throw new PcapError(`${where}: cannot infer the EtherType for a following ${layer?.kind ?? 'nothing'}; give 'type'`);
  }
}

function ipProtocolOf(layer: Layer | undefined, where: string): number {
  switch (layer?.kind) {
    case 'udp':
      return IPPROTO_UDP;
    case 'tcp':
      return IPPROTO_TCP;
    case 'icmp':
      return IPPROTO_ICMP;
    case 'icmpv6':
      return IPPROTO_ICMPV6;
    default:
      throw new PcapError(`${where}: cannot infer the IP protocol for a following ${layer?.kind ?? 'nothing'}; give it explicitly`);
  }
}

function u16be(out: Uint8Array, at: number, value: number): void {
  out[at] = (value >> 8) & 0xff;
  out[at + 1] = value & 0xff;
}

function u32be(out: Uint8Array, at: number, value: number): void {
  u16be(out, at, value >>> 16);
  u16be(out, at + 2, value & 0xffff);
}

function concat(head: Uint8Array, tail: Uint8Array): Uint8Array {
  const out = new Uint8Array(head.length + tail.length);
  out.set(head);
  out.set(tail, head.length);
  return out;
}

/** The one's-complement sum of the IPv4 or IPv6 pseudo-header for an upper-layer packet of `length` bytes. */
function pseudoHeaderSum(ip: Layer | undefined, protocol: number, length: number, where: string): number {
  if (ip?.kind === 'ipv4') {
    const p = new Uint8Array(12);
    p.set(parseIpv4(ip.fields.src ?? '10.0.0.1'), 0);
    p.set(parseIpv4(ip.fields.dst ?? '10.0.0.2'), 4);
    p[9] = protocol;
    u16be(p, 10, length);
    return onesComplementSum(p);
  }
  if (ip?.kind === 'ipv6') {
    const p = new Uint8Array(40);
    p.set(parseIpv6(ip.fields.src ?? 'fd00::1'), 0);
    p.set(parseIpv6(ip.fields.dst ?? 'fd00::2'), 16);
    u32be(p, 32, length);
    p[39] = protocol;
    return onesComplementSum(p);
  }
  throw new PcapError(`${where}: a transport checksum needs an IPv4 or IPv6 layer before it`);
}

function encodeLayer(layers: Layer[], index: number, inner: Uint8Array): Uint8Array {
  const layer = layers[index]!;
  const next = layers[index + 1];
  const where = `layer ${index} (${layer.kind})`;
  const ip = layers.slice(0, index).reverse().find((l) => l.kind === 'ipv4' || l.kind === 'ipv6');
  switch (layer.kind) {
    case 'payload':
      return concat(layer.bytes, inner);
    case 'ethernet': {
      const f = layer.fields;
      const h = new Uint8Array(14);
      h.set(parseMac(f.dst ?? '02:00:00:00:00:02'), 0);
      h.set(parseMac(f.src ?? '02:00:00:00:00:01'), 6);
      u16be(h, 12, f.type ?? etherTypeOf(next, where));
      return concat(h, inner);
    }
    case 'vlan': {
      const f = layer.fields;
      if (!Number.isInteger(f.id) || f.id < 0 || f.id > 4095) throw new PcapError(`${where}: VLAN id ${f.id} is not 0..4095`);
      const h = new Uint8Array(4);
      u16be(h, 0, ((f.priority ?? 0) << 13) | (f.dei ? 0x1000 : 0) | f.id);
      u16be(h, 2, f.type ?? etherTypeOf(next, where));
      return concat(h, inner);
    }
    case 'ipv4': {
      const f = layer.fields;
      const options = f.options ?? new Uint8Array(0);
      const headerLength = 20 + ((options.length + 3) & ~3);
      if (headerLength > 60) throw new PcapError(`${where}: ${options.length} bytes of options make the header longer than 60 bytes`);
      const h = new Uint8Array(headerLength);
      h[0] = 0x40 | (headerLength / 4);
      h[1] = f.tos ?? 0;
      u16be(h, 2, f.totalLength ?? headerLength + inner.length);
      u16be(h, 4, f.id ?? 0);
      u16be(h, 6, ((f.flags ?? 0) << 13) | (f.fragmentOffset ?? 0));
      h[8] = f.ttl ?? 64;
      h[9] = f.protocol ?? ipProtocolOf(next, where);
      h.set(parseIpv4(f.src ?? '10.0.0.1'), 12);
      h.set(parseIpv4(f.dst ?? '10.0.0.2'), 16);
      h.set(options, 20);
      u16be(h, 10, f.checksum ?? internetChecksum(h));
      return concat(h, inner);
    }
    case 'ipv6': {
      const f = layer.fields;
      const h = new Uint8Array(40);
      u32be(h, 0, ((6 << 28) | ((f.trafficClass ?? 0) << 20) | (f.flowLabel ?? 0)) >>> 0);
      u16be(h, 4, f.payloadLength ?? inner.length);
      h[6] = f.nextHeader ?? ipProtocolOf(next, where);
      h[7] = f.hopLimit ?? 64;
      h.set(parseIpv6(f.src ?? 'fd00::1'), 8);
      h.set(parseIpv6(f.dst ?? 'fd00::2'), 24);
      return concat(h, inner);
    }
    case 'udp': {
      const f = layer.fields;
      const out = concat(new Uint8Array(8), inner);
      u16be(out, 0, f.sport ?? 12345);
      u16be(out, 2, f.dport ?? 53);
      u16be(out, 4, f.length ?? out.length);
      let sum = f.checksum ?? internetChecksum(out, 0, out.length, pseudoHeaderSum(ip, IPPROTO_UDP, out.length, where));
      // A computed zero is sent as 0xffff: zero means "no checksum" in UDP.
      if (f.checksum === undefined && sum === 0) sum = 0xffff;
      u16be(out, 6, sum);
      return out;
    }
    case 'tcp': {
      const f = layer.fields;
      const options = f.options ?? new Uint8Array(0);
      const headerLength = 20 + ((options.length + 3) & ~3);
      if (headerLength > 60) throw new PcapError(`${where}: ${options.length} bytes of options make the header longer than 60 bytes`);
      const out = concat(new Uint8Array(headerLength), inner);
      u16be(out, 0, f.sport ?? 12345);
      u16be(out, 2, f.dport ?? 80);
      u32be(out, 4, f.seq ?? 0);
      u32be(out, 8, f.ack ?? 0);
      out[12] = (headerLength / 4) << 4;
      out[13] = f.flags ?? TcpFlag.SYN;
      u16be(out, 14, f.window ?? 65535);
      u16be(out, 18, f.urgent ?? 0);
      out.set(options, 20);
      u16be(out, 16, f.checksum ?? internetChecksum(out, 0, out.length, pseudoHeaderSum(ip, IPPROTO_TCP, out.length, where)));
      return out;
    }
    case 'icmp':
    case 'icmpv6': {
      const f = layer.fields;
      const v6 = layer.kind === 'icmpv6';
      const out = concat(new Uint8Array(8), inner);
      out[0] = f.type ?? (v6 ? 128 : 8);
      out[1] = f.code ?? 0;
      u16be(out, 4, f.id ?? 1);
      u16be(out, 6, f.sequence ?? 1);
      const initial = v6 ? pseudoHeaderSum(ip, IPPROTO_ICMPV6, out.length, where) : 0;
      u16be(out, 2, f.checksum ?? internetChecksum(out, 0, out.length, initial));
      return out;
    }
  }
}

/** Builds a frame from its layers, outermost first. */
export function buildPacket(...layers: Layer[]): Uint8Array {
  let bytes: Uint8Array = new Uint8Array(0);
  for (let i = layers.length - 1; i >= 0; i--) bytes = encodeLayer(layers, i, bytes);
  return bytes;
}

/** A frame read back by `decodePacket`. Fields are present for the layers found. */
export interface DecodedPacket {
  ethernet?: { src: string; dst: string; type: number };
  vlans: number[];
  ip?: { version: 4 | 6; src: string; dst: string; protocol: number; ttl: number; headerLength: number; checksumValid?: boolean };
  transport?: {
    protocol: 'udp' | 'tcp' | 'icmp' | 'icmpv6';
    sport?: number;
    dport?: number;
    flags?: number;
    type?: number;
    code?: number;
    checksumValid: boolean;
  };
  /** Set when the frame ends inside a header, or a header is inconsistent. */
  problem?: string;
  /** One line in tcpdump's spirit. */
  summary: string;
}

function tcpFlagText(flags: number): string {
  const letters: [number, string][] = [
    [TcpFlag.SYN, 'S'],
    [TcpFlag.FIN, 'F'],
    [TcpFlag.RST, 'R'],
    [TcpFlag.PSH, 'P'],
    [TcpFlag.ACK, '.'],
    [TcpFlag.URG, 'U'],
  ];
  return letters.filter(([bit]) => flags & bit).map(([, c]) => c).join('') || 'none';
}

/** Decodes Ethernet, 802.1Q/802.1ad, IPv4, IPv6, UDP, TCP, ICMP and ICMPv6 headers; never throws. */
export function decodePacket(frame: Uint8Array): DecodedPacket {
  const d: DecodedPacket = { vlans: [], summary: '' };
  const rd16 = (at: number): number => (frame[at]! << 8) | frame[at + 1]!;
  const finish = (problem?: string): DecodedPacket => {
    if (problem !== undefined) d.problem = problem;
    const parts: string[] = [];
    if (d.vlans.length) parts.push(`vlan ${d.vlans.join(',')}`);
    if (d.ip) {
      const t = d.transport;
      const port = (p?: number): string => (p === undefined ? '' : `.${p}`);
      parts.push(`IPv${d.ip.version} ${d.ip.src}${port(t?.sport)} > ${d.ip.dst}${port(t?.dport)}`);
      if (t) {
        let text = t.protocol.toUpperCase();
        if (t.flags !== undefined) text += ` [${tcpFlagText(t.flags)}]`;
        if (t.type !== undefined) text += ` type ${t.type} code ${t.code}`;
        if (!t.checksumValid) text += ' bad-checksum';
        parts.push(text);
      } else parts.push(`proto ${d.ip.protocol}`);
      if (d.ip.checksumValid === false) parts.push('bad-ip-checksum');
    } else if (d.ethernet) parts.push(d.ethernet.type === ETH_P_ARP ? 'ARP' : `ethertype 0x${d.ethernet.type.toString(16).padStart(4, '0')}`);
    parts.push(`length ${frame.length}`);
    if (d.problem) parts.push(`(${d.problem})`);
    d.summary = parts.join(' ');
    return d;
  };
  if (frame.length < 14) return finish(`${frame.length}-byte frame is shorter than an Ethernet header`);
  let type = rd16(12);
  d.ethernet = { dst: formatMac(frame.subarray(0, 6)), src: formatMac(frame.subarray(6, 12)), type };
  let at = 14;
  while (type === ETH_P_8021Q || type === ETH_P_8021AD) {
    if (frame.length < at + 4) return finish('truncated VLAN tag');
    d.vlans.push(rd16(at) & 0x0fff);
    type = rd16(at + 2);
    at += 4;
  }
  let protocol: number;
  let pseudo: number;
  let end: number;
  if (type === ETH_P_IP) {
    if (frame.length < at + 20) return finish('truncated IPv4 header');
    const headerLength = (frame[at]! & 0x0f) * 4;
    if (frame[at]! >> 4 !== 4 || headerLength < 20) return finish('bad IPv4 version or header length');
    if (frame.length < at + headerLength) return finish('truncated IPv4 options');
    const total = rd16(at + 2);
    end = Math.min(frame.length, at + total);
    protocol = frame[at + 9]!;
    d.ip = {
      version: 4,
      src: formatIp(frame.subarray(at + 12, at + 16)),
      dst: formatIp(frame.subarray(at + 16, at + 20)),
      protocol,
      ttl: frame[at + 8]!,
      headerLength,
      checksumValid: internetChecksum(frame, at, at + headerLength) === 0,
    };
    const p = new Uint8Array(12);
    p.set(frame.subarray(at + 12, at + 20));
    p[9] = protocol;
    u16be(p, 10, end - at - headerLength);
    pseudo = onesComplementSum(p);
    if ((rd16(at + 6) & 0x1fff) !== 0) return finish('IPv4 fragment');
    at += headerLength;
  } else if (type === ETH_P_IPV6) {
    if (frame.length < at + 40) return finish('truncated IPv6 header');
    protocol = frame[at + 6]!;
    end = Math.min(frame.length, at + 40 + rd16(at + 4));
    d.ip = {
      version: 6,
      src: formatIp(frame.subarray(at + 8, at + 24)),
      dst: formatIp(frame.subarray(at + 24, at + 40)),
      protocol,
      ttl: frame[at + 7]!,
      headerLength: 40,
    };
    const p = new Uint8Array(40);
    p.set(frame.subarray(at + 8, at + 40));
    u32be(p, 32, end - at - 40);
    p[39] = protocol;
    pseudo = onesComplementSum(p);
    at += 40;
  } else return finish();
  const valid = (initial: number): boolean => internetChecksum(frame, at, end, initial) === 0;
  if (protocol === IPPROTO_UDP) {
    if (end < at + 8) return finish('truncated UDP header');
    d.transport = { protocol: 'udp', sport: rd16(at), dport: rd16(at + 2), checksumValid: (d.ip.version === 4 && rd16(at + 6) === 0) || valid(pseudo) };
  } else if (protocol === IPPROTO_TCP) {
    if (end < at + 20) return finish('truncated TCP header');
    d.transport = { protocol: 'tcp', sport: rd16(at), dport: rd16(at + 2), flags: frame[at + 13]!, checksumValid: valid(pseudo) };
  } else if (protocol === IPPROTO_ICMP || protocol === IPPROTO_ICMPV6) {
    if (end < at + 4) return finish('truncated ICMP header');
    const v6 = protocol === IPPROTO_ICMPV6;
    d.transport = { protocol: v6 ? 'icmpv6' : 'icmp', type: frame[at]!, code: frame[at + 1]!, checksumValid: valid(v6 ? pseudo : 0) };
  }
  return finish();
}
