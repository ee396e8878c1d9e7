/**
 * The names a filter may use for ports, IP protocols and Ethernet types.
 * libpcap asks the system (getservbyname, getprotobyname); tsbpf carries
 * the common entries of Debian's /etc/services and /etc/protocols so a
 * filter compiles the same everywhere, including browsers.
 */
import { IPPROTO } from './codegen.ts';

/** Service name → port and the transports /etc/services lists it for. */
export const SERVICES: Readonly<Record<string, { port: number; tcp: boolean; udp: boolean }>> = {
  'ftp-data': { port: 20, tcp: true, udp: false },
  ftp: { port: 21, tcp: true, udp: false },
  ssh: { port: 22, tcp: true, udp: false },
  telnet: { port: 23, tcp: true, udp: false },
  smtp: { port: 25, tcp: true, udp: false },
  domain: { port: 53, tcp: true, udp: true },
  bootps: { port: 67, tcp: false, udp: true },
  bootpc: { port: 68, tcp: false, udp: true },
  tftp: { port: 69, tcp: false, udp: true },
  http: { port: 80, tcp: true, udp: false },
  www: { port: 80, tcp: true, udp: false },
  pop3: { port: 110, tcp: true, udp: false },
  ntp: { port: 123, tcp: false, udp: true },
  imap2: { port: 143, tcp: true, udp: false },
  imap: { port: 143, tcp: true, udp: false },
  snmp: { port: 161, tcp: true, udp: true },
  bgp: { port: 179, tcp: true, udp: false },
  ldap: { port: 389, tcp: true, udp: true },
  https: { port: 443, tcp: true, udp: true },
  isakmp: { port: 500, tcp: false, udp: true },
  syslog: { port: 514, tcp: false, udp: true },
  rsync: { port: 873, tcp: true, udp: false },
  imaps: { port: 993, tcp: true, udp: false },
  pop3s: { port: 995, tcp: true, udp: false },
  openvpn: { port: 1194, tcp: true, udp: true },
  nfs: { port: 2049, tcp: true, udp: true },
  mysql: { port: 3306, tcp: true, udp: false },
  sip: { port: 5060, tcp: true, udp: true },
};

/** IP protocol names (/etc/protocols). */
export const IP_PROTOCOLS: Readonly<Record<string, number>> = {
  ip: 0, icmp: IPPROTO.ICMP, igmp: IPPROTO.IGMP, tcp: IPPROTO.TCP, egp: 8, igp: 9, udp: IPPROTO.UDP, ipv6: 41,
  'ipv6-route': 43, 'ipv6-frag': 44, rsvp: 46, gre: 47, esp: IPPROTO.ESP, ah: IPPROTO.AH, 'ipv6-icmp': IPPROTO.ICMPV6,
  'ipv6-nonxt': 59, 'ipv6-opts': 60, eigrp: 88, ospf: 89, ipip: 94, pim: IPPROTO.PIM, vrrp: IPPROTO.VRRP, l2tp: 115, sctp: IPPROTO.SCTP, udplite: 136,
};

/** Ethernet type names (libpcap's built-in table). */
export const ETHER_PROTOCOLS: Readonly<Record<string, number>> = {
  ip: 0x0800, ip6: 0x86dd, arp: 0x0806, rarp: 0x8035, atalk: 0x809b, aarp: 0x80f3, decnet: 0x6003, sca: 0x6007, lat: 0x6004,
  mopdl: 0x6001, moprc: 0x6002, loopback: 0x9000, sprite: 0x0500, lanbridge: 0x8038, decdns: 0x803c, decdts: 0x803e, vexp: 0x805b, vprod: 0x805c,
};
