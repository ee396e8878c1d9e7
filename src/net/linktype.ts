/**
 * Link-layer header types (LINKTYPE_* from tcpdump.org/linktypes.html) and
 * how to find the network-layer protocol behind each, so captures taken on
 * any interface (Ethernet, loopback, `any`, tun devices, raw IP) can be fed
 * to programs that expect Ethernet frames (XDP, TC, socket filters: the
 * kernel's BPF_PROG_TEST_RUN always builds the skb from an Ethernet frame).
 */
import { PcapError } from './errors.ts';

export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;
export type LinkType = number;

export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;
export const ETH_P_8021Q = 0x8100;
export const ETH_P_8021AD = 0x88a8;
export const ETH_P_IPV6 = 0x86dd;

const LINK_TYPE_NAMES: Record<number, string> = {
  0: 'NULL (BSD loopback)',
  1: 'ETHERNET',
  101: 'RAW (IP)',
  105: 'IEEE802_11',
  108: 'LOOP (OpenBSD loopback)',
  113: 'LINUX_SLL',
  127: 'IEEE802_11_RADIOTAP',
  228: 'IPV4',
  229: 'IPV6',
  276: 'LINUX_SLL2',
};

export function linkTypeName(linkType: number): string {
  return LINK_TYPE_NAMES[linkType] ?? `LINKTYPE ${linkType}`;
}

/** The link-layer header of one frame: its length and the EtherType of what follows. */
export interface LinkHeader {
  headerLength: number;
  /** EtherType (ETH_P_*) of the payload. */
  protocol: number;
}

/** BSD address families seen in DLT_NULL/DLT_LOOP headers: AF_INET is 2 everywhere, AF_INET6 varies by OS. */
const AF_INET = 2;
const AF_INET6_VALUES = new Set([10, 24, 28, 30]);

function ipVersionProtocol(data: Uint8Array, at: number, where: string): number {
  if (data.length <= at) throw new PcapError(`${where}: frame has no IP header`);
  const version = data[at]! >> 4;
  if (version === 4) return ETH_P_IP;
  if (version === 6) return ETH_P_IPV6;
  throw new PcapError(`${where}: IP version ${version} is neither 4 nor 6`);
}

/**
 * Parses the link-layer header of a frame of `linkType`. Throws PcapError
 * when the frame is too short or the link type is not one a BPF network
 * program can be given.
 */
export function parseLinkHeader(linkType: number, data: Uint8Array, where = 'packet'): LinkHeader {
  const need = (n: number): void => {
    if (data.length < n) throw new PcapError(`${where}: ${data.length}-byte frame is shorter than the ${n}-byte ${linkTypeName(linkType)} header`);
  };
  switch (linkType) {
    case LinkType.ETHERNET:
      need(14);
      return { headerLength: 14, protocol: (data[12]! << 8) | data[13]! };
    case LinkType.NULL:
    case LinkType.LOOP: {
      need(4);
      // DLT_NULL stores the family in the capturing host's byte order, DLT_LOOP in network order.
      const be = ((data[0]! << 24) | (data[1]! << 16) | (data[2]! << 8) | data[3]!) >>> 0;
      const le = ((data[3]! << 24) | (data[2]! << 16) | (data[1]! << 8) | data[0]!) >>> 0;
      const family = linkType === LinkType.LOOP || be < 256 ? be : le;
      if (family === AF_INET) return { headerLength: 4, protocol: ETH_P_IP };
      if (AF_INET6_VALUES.has(family)) return { headerLength: 4, protocol: ETH_P_IPV6 };
      throw new PcapError(`${where}: loopback address family ${family} is neither IPv4 nor IPv6`);
    }
    case LinkType.RAW:
      return { headerLength: 0, protocol: ipVersionProtocol(data, 0, where) };
    case LinkType.IPV4:
      return { headerLength: 0, protocol: ETH_P_IP };
    case LinkType.IPV6:
      return { headerLength: 0, protocol: ETH_P_IPV6 };
    case LinkType.LINUX_SLL:
      // packet type(2) ARPHRD(2) address length(2) address(8) protocol(2)
      need(16);
      return { headerLength: 16, protocol: (data[14]! << 8) | data[15]! };
    case LinkType.LINUX_SLL2:
      // protocol(2) reserved(2) ifindex(4) ARPHRD(2) packet type(1) address length(1) address(8)
      need(20);
      return { headerLength: 20, protocol: (data[0]! << 8) | data[1]! };
    default:
      throw new PcapError(`${where}: link type ${linkTypeName(linkType)} cannot be converted to Ethernet`);
  }
}

/**
 * The frame as an Ethernet frame: Ethernet frames are returned as they are;
 * other link types get their header replaced by a 14-byte Ethernet header
 * with zero MAC addresses and the payload's EtherType (what the kernel does
 * for packets from tun devices given to an XDP generic hook).
 */
export function toEthernet(linkType: number, data: Uint8Array, where?: string): Uint8Array {
  if (linkType === LinkType.ETHERNET) {
    parseLinkHeader(linkType, data, where);
    return data;
  }
  const { headerLength, protocol } = parseLinkHeader(linkType, data, where);
  const frame = new Uint8Array(14 + data.length - headerLength);
  frame[12] = protocol >> 8;
  frame[13] = protocol & 0xff;
  frame.set(data.subarray(headerLength), 14);
  return frame;
}
