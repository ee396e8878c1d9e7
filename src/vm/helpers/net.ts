/**
 * Packet helpers of XDP and skb programs (net/core/filter.c): byte loads
 * and stores, checksum arithmetic, moving the XDP data pointers, redirects
 * recorded as the run's decision, and the FIB lookup against the user's
 * route table.
 *
 * Checksum arithmetic is done in the host's (little-endian) byte order on
 * values as the program holds them, exactly as the kernel computes on x86,
 * so csum_diff returns the same 32-bit value and the stored checksums get
 * the same bytes.
 */
import { parseIp, parseMac } from '../../net/address.ts';
import type { HelperCall, HelperRegistry } from '../helper-registry.ts';
import { environmentOf, packetOf, type Route } from './environment.ts';
import { EACCES, EFAULT, EINVAL } from './errno.ts';
import { ETH_HLEN, XDP_FRAME_SIZE, XDP_MAX_META } from './packet.ts';

/** BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH. */
const STORE_BYTES_FLAGS = 0x3;
/** BPF_F_HDR_FIELD_MASK. */
const HDR_FIELD_MASK = 0xf;
const F_PSEUDO_HDR = 1 << 4;
const F_MARK_MANGLED_0 = 1 << 5;
const F_MARK_ENFORCE = 1 << 6;
const F_IPV6 = 1 << 7;
/** sizeof(sp->diff) in bpf_csum_diff's per-CPU scratch: 128 u32 words. */
const CSUM_DIFF_MAX = 512;
const XDP_ABORTED = 0;
const XDP_REDIRECT = 4;
const TC_ACT_SHOT = 2;
const TC_ACT_REDIRECT = 7;
/** BPF_F_INGRESS for bpf_redirect from TC. */
const F_INGRESS = 1;

/** 32-bit one's-complement addition (the kernel's csum_add). */
function csumAdd(a: number, b: number): number {
  const sum = (a >>> 0) + (b >>> 0);
  return (sum + (sum > 0xffffffff ? 1 : 0)) >>> 0;
}

function csumSub(a: number, b: number): number {
  return csumAdd(a, ~b >>> 0);
}

/** csum_fold: 32 bits to a 16-bit complemented checksum. */
function csumFold(sum: number): number {
  let s = (sum & 0xffff) + (sum >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** x86-64 csum_partial over 32-bit-aligned data: a one's-complement sum of little-endian words folded to 32 bits. */
function csumPartial(bytes: Uint8Array, seed: number): number {
  let sum = seed >>> 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let i = 0; i + 4 <= bytes.length; i += 4) sum = csumAdd(sum, view.getUint32(i, true));
  return sum;
}

function csum16Add(a: number, b: number): number {
  const s = a + b;
  return (s + (s >> 16)) & 0xffff;
}

/** Replaces the 16-bit checksum at `at` after a 2-byte, 4-byte or diff change, in host order (csum_replace2/4/by_diff). */
function replaceChecksum(u8: Uint8Array, at: number, size: number, from: number, to: number): boolean {
  const stored = u8[at]! | (u8[at + 1]! << 8);
  let result: number;
  if (size === 2) result = ~csum16Add(csum16Add(~stored & 0xffff, ~from & 0xffff), to & 0xffff) & 0xffff;
  else if (size === 4) result = csumFold(csumAdd(csumSub(~stored >>> 0, from), to));
  else if (size === 0) result = csumFold(csumAdd(to, ~stored >>> 0));
  else return false;
  u8[at] = result & 0xff;
  u8[at + 1] = result >> 8;
  return true;
}

/** BPF_FIB_LKUP_RET_*. */
export const FibResult = {
  SUCCESS: 0,
  BLACKHOLE: 1,
  UNREACHABLE: 2,
  PROHIBIT: 3,
  NOT_FWDED: 4,
  FWD_DISABLED: 5,
  UNSUPP_LWT: 6,
  NO_NEIGH: 7,
  FRAG_NEEDED: 8,
  NO_SRC_ADDR: 9,
} as const;
const FIB_FLAGS = 0x3f; // DIRECT | OUTPUT | SKIP_NEIGH | TBID | SRC | MARK
const FIB_SKIP_NEIGH = 4;
const FIB_STRUCT_SIZE = 64;
const AF_INET = 2;
const AF_INET6 = 10;
const EAFNOSUPPORT = -97;

interface ParsedRoute {
  route: Route;
  network: Uint8Array;
  length: number;
}

function parseRoute(route: Route): ParsedRoute {
  const [address, bits] = route.prefix.split('/');
  const network = parseIp(address!);
  const length = bits === undefined ? network.length * 8 : Number(bits);
  if (!Number.isInteger(length) || length < 0 || length > network.length * 8) throw new RangeError(`route prefix '${route.prefix}' has an invalid length`);
  return { route, network, length };
}

function matches(prefix: ParsedRoute, address: Uint8Array): boolean {
  if (prefix.network.length !== address.length) return false;
  for (let bit = 0; bit < prefix.length; bit += 8) {
    const n = Math.min(8, prefix.length - bit);
    const mask = (0xff << (8 - n)) & 0xff;
    if ((prefix.network[bit / 8]! & mask) !== (address[bit / 8]! & mask)) return false;
  }
  return true;
}

/** Longest-prefix match of `address` (4 or 16 bytes) in `routes`. */
export function lookupRoute(routes: readonly Route[], address: Uint8Array): Route | undefined {
  let best: ParsedRoute | undefined;
  for (const route of routes) {
    const parsed = parseRoute(route);
    if (matches(parsed, address) && (best === undefined || parsed.length > best.length)) best = parsed;
  }
  return best?.route;
}

function fibLookup(call: HelperCall): number {
  const size = call.arg(3);
  const flags = call.argU32(4);
  if (size < FIB_STRUCT_SIZE) return EINVAL;
  if ((flags & ~FIB_FLAGS) !== 0) return EINVAL;
  const params = call.bytes(2, FIB_STRUCT_SIZE, true);
  const view = new DataView(params.buffer, params.byteOffset, FIB_STRUCT_SIZE);
  const family = params[0]!;
  if (family !== AF_INET && family !== AF_INET6) return EAFNOSUPPORT;
  const v4 = family === AF_INET;
  const destination = params.slice(32, v4 ? 36 : 48);
  const route = lookupRoute(environmentOf(call).event.routes ?? [], destination);
  if (route === undefined) return FibResult.NOT_FWDED;
  switch (route.type ?? 'unicast') {
    case 'blackhole':
      return FibResult.BLACKHOLE;
    case 'unreachable':
      return FibResult.UNREACHABLE;
    case 'prohibit':
      return FibResult.PROHIBIT;
    default:
      break;
  }
  const mtu = route.mtu ?? 1500;
  const totalLength = view.getUint16(6, true);
  if (totalLength !== 0 && totalLength > mtu) {
    view.setUint16(6, mtu, true);
    return FibResult.FRAG_NEEDED;
  }
  view.setUint32(8, route.ifindex, true);
  if (route.gateway !== undefined) {
    const gateway = parseIp(route.gateway);
    if (gateway.length !== destination.length) throw new RangeError(`route ${route.prefix}: gateway ${route.gateway} is of the other address family`);
    params.set(gateway, 32);
  }
  view.setUint32(48, 0, true); // h_vlan_proto, h_vlan_TCI
  if ((flags & FIB_SKIP_NEIGH) !== 0) return FibResult.SUCCESS;
  if (route.dmac === undefined) return FibResult.NO_NEIGH;
  params.set(parseMac(route.smac ?? '00:00:00:00:00:00'), 52);
  params.set(parseMac(route.dmac), 58);
  return FibResult.SUCCESS;
}

/** skb_load_bytes(_relative): `to` gets the packet bytes at `start`, or zeros and EFAULT when they run past `end`. */
function loadPacketBytes(call: HelperCall, start: number, end: number, to: Uint8Array): number {
  if (start + to.length > end) {
    to.fill(0);
    return EFAULT;
  }
  to.set(call.memory.u8.subarray(start, start + to.length));
  return 0;
}

/** Registers the helpers of this file (by kernel helper id). */
export function registerNetHelpers(registry: HelperRegistry): void {
  registry
    .register(26, (call) => {
      // skb_load_bytes(skb, offset, to, len)
      const packet = packetOf(call, 'skb_load_bytes');
      const offset = call.argU32(2);
      const length = call.arg(4);
      return loadPacketBytes(call, packet.data + offset, packet.data + packet.length, call.bytes(3, length, true));
    })
    .register(68, (call) => {
      // skb_load_bytes_relative(skb, offset, to, len, start_header): only BPF_HDR_START_MAC (0) and NET (1)
      const packet = packetOf(call, 'skb_load_bytes_relative');
      const offset = call.argU32(2);
      const length = call.arg(4);
      const start = call.argU32(5);
      const to = call.bytes(3, length, true);
      const base = start === 0 ? packet.macHeader : start === 1 ? packet.macHeader + ETH_HLEN : -1;
      if (base < 0) {
        to.fill(0);
        return EINVAL;
      }
      return loadPacketBytes(call, base + offset, packet.dataEnd, to);
    })
    .register(9, (call) => {
      // skb_store_bytes(skb, offset, from, len, flags)
      const packet = packetOf(call, 'skb_store_bytes');
      const offset = call.argU32(2);
      const length = call.arg(4);
      const flags = call.argU64(5);
      if ((flags & ~BigInt(STORE_BYTES_FLAGS)) !== 0n) return EINVAL;
      if (offset > 0xffff) return EFAULT;
      const from = call.bytes(3, length, false).slice();
      if (offset + length > packet.length) return EFAULT;
      call.memory.u8.set(from, packet.data + offset);
      return 0;
    })
    .register(10, (call) => {
      // l3_csum_replace(skb, offset, from, to, flags)
      const packet = packetOf(call, 'l3_csum_replace');
      const offset = call.argU32(2);
      const flags = call.argU64(5);
      if ((flags & ~BigInt(HDR_FIELD_MASK)) !== 0n) return EINVAL;
      if (offset > 0xffff || offset + 2 > packet.length) return EFAULT;
      const ok = replaceChecksum(call.memory.u8, packet.data + offset, Number(flags), call.argU32(3), call.argU32(4));
      return ok ? 0 : EINVAL;
    })
    .register(11, (call) => {
      // l4_csum_replace(skb, offset, from, to, flags)
      const packet = packetOf(call, 'l4_csum_replace');
      const offset = call.argU32(2);
      const flags = Number(call.argU64(5) & 0xffffffffn);
      if (call.argU64(5) > 0xffffffffn || (flags & ~(F_MARK_MANGLED_0 | F_MARK_ENFORCE | F_PSEUDO_HDR | F_IPV6 | HDR_FIELD_MASK)) !== 0) return EINVAL;
      if (offset > 0xffff || offset + 2 > packet.length) return EFAULT;
      const u8 = call.memory.u8;
      const at = packet.data + offset;
      const mangledZero = (flags & F_MARK_MANGLED_0) !== 0;
      // A UDP checksum of 0 means "none": leave it alone.
      if (mangledZero && u8[at] === 0 && u8[at + 1] === 0) return 0;
      if (!replaceChecksum(u8, at, flags & HDR_FIELD_MASK, call.argU32(3), call.argU32(4))) return EINVAL;
      if (mangledZero && u8[at] === 0 && u8[at + 1] === 0) u8[at] = u8[at + 1] = 0xff;
      return 0;
    })
    .register(28, (call) => {
      // csum_diff(from, from_size, to, to_size, seed)
      const fromSize = call.arg(2);
      const toSize = call.arg(4);
      const seed = call.argU32(5);
      if ((fromSize | toSize) % 4 !== 0 || fromSize + toSize > CSUM_DIFF_MAX) return EINVAL;
      const from = fromSize > 0 ? call.bytes(1, fromSize, false) : new Uint8Array(0);
      const to = toSize > 0 ? call.bytes(3, toSize, false) : new Uint8Array(0);
      if (fromSize > 0 && toSize > 0) return csumSub(csumPartial(to, seed), csumPartial(from, 0));
      if (toSize > 0) return csumPartial(to, seed);
      if (fromSize > 0) return ~csumPartial(from, ~seed >>> 0) >>> 0;
      return seed;
    })
    .register(44, (call) => {
      // xdp_adjust_head(xdp, delta)
      const packet = packetOf(call, 'xdp_adjust_head');
      const delta = call.argI32(2);
      const meta = packet.metaLength;
      const data = packet.data + delta;
      if (data < packet.hardStart + XDP_FRAME_SIZE + meta || data > packet.dataEnd - ETH_HLEN) return EINVAL;
      if (meta > 0) call.memory.u8.copyWithin(packet.dataMeta + delta, packet.dataMeta, packet.data);
      packet.setBounds({ dataMeta: packet.dataMeta + delta, data, dataEnd: packet.dataEnd });
      return 0;
    })
    .register(54, (call) => {
      // xdp_adjust_meta(xdp, delta)
      const packet = packetOf(call, 'xdp_adjust_meta');
      const meta = packet.dataMeta + call.argI32(2);
      if (meta < packet.hardStart + XDP_FRAME_SIZE || meta > packet.data) return EINVAL;
      const length = packet.data - meta;
      if (length % 4 !== 0 || length > XDP_MAX_META) return EACCES;
      packet.setBounds({ dataMeta: meta, data: packet.data, dataEnd: packet.dataEnd });
      return 0;
    })
    .register(65, (call) => {
      // xdp_adjust_tail(xdp, delta)
      const packet = packetOf(call, 'xdp_adjust_tail');
      const delta = call.argI32(2);
      const end = packet.dataEnd + delta;
      if (end > packet.hardEnd || end < packet.data + ETH_HLEN) return EINVAL;
      if (delta > 0) call.memory.u8.fill(0, packet.dataEnd, end);
      packet.setBounds({ dataMeta: packet.dataMeta, data: packet.data, dataEnd: end });
      return 0;
    })
    .register(23, (call) => {
      // redirect(ifindex, flags)
      const packet = packetOf(call, 'redirect');
      const env = environmentOf(call);
      const ifindex = call.argU32(1);
      const flags = call.argU64(2);
      if (packet.kind === 'xdp') {
        if (flags !== 0n) return XDP_ABORTED;
        env.redirect = { helper: 'redirect', target: ifindex, flags: 0 };
        return XDP_REDIRECT;
      }
      if ((flags & ~BigInt(F_INGRESS)) !== 0n) return TC_ACT_SHOT;
      env.redirect = { helper: 'redirect', target: ifindex, flags: Number(flags) };
      return TC_ACT_REDIRECT;
    })
    .register(69, fibLookup);
}
