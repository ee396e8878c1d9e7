/**
 * Filter expressions for the differential tests: a hand-written list that
 * covers every primitive of pcap-filter(7) tsbpf supports, and a seeded
 * generator combining primitives with and/or/not and parentheses.
 */
import { seededRandom } from '../support/random.ts';
import { HOSTS_V4, HOSTS_V6, PORTS } from './traffic.ts';

export const HANDWRITTEN = [
  '', 'ip', 'ip6', 'arp', 'rarp', 'tcp', 'udp', 'icmp', 'icmp6', 'sctp', 'igmp', 'pim', 'vrrp', 'ah', 'esp',
  'host 10.0.0.1', 'src host 10.0.0.1', 'dst host 10.0.0.2', 'src or dst host 8.8.8.8', 'src and dst host 8.8.8.8', 'ip host 192.168.1.5', 'arp host 10.1.2.3', 'rarp host 10.0.0.2',
  'host 10.0.0.1 or 10.0.0.2', 'host 10.0.0.1 and not 10.0.0.2', 'host (10.0.0.1 or 8.8.8.8)', 'not host 10.0.0.1',
  'net 10.0.0.0/8', 'net 192.168.0.0/16', 'src net 10.1.0.0/16', 'dst net 224.0.0.0/4', 'net 10.0.0.0 mask 255.0.0.0', 'net 10', 'net 192.168', 'host 10.1', 'net 0.0.0.0/0', 'net 10.0.0.0/32',
  'ip6 host 2001:db8::1', 'host 2001:db8::2', 'src host fe80::1', 'dst host ::1', 'net 2001:db8::/32', 'ip6 net 2001:db8:1::/48', 'src net fe80::/10', 'dst net ff00::/8', 'net ::/0',
  'ether host 02:00:00:00:00:01', 'ether src 02:00:00:00:00:02', 'ether dst ff:ff:ff:ff:ff:ff', 'ether host 00-11-22-33-44-55', 'ether host 0011.2233.4455', 'ether src 2:0:0:0:0:1 and ether dst 2:0:0:0:0:2',
  'ether broadcast', 'ether multicast', 'broadcast', 'multicast', 'ip multicast', 'ip6 multicast', 'ip broadcast',
  'ether proto \\ip', 'ether proto \\ip6', 'ether proto \\arp', 'ether proto \\rarp', 'ether proto 0x0800', 'ether proto 0x8847', 'ether proto 66',
  'ip proto \\tcp', 'ip proto \\udp', 'ip proto 1', 'ip proto 47', 'ip6 proto 6', 'ip6 proto \\udp', 'proto 17', 'proto \\icmp', 'ip proto 132',
  'port 80', 'port 53', 'src port 443', 'dst port 22', 'tcp port 80', 'udp port 53', 'sctp port 80', 'tcp src port 1000', 'udp dst port 123', 'port 80 or 443', 'tcp port 80 or 443 or 8080',
  'port http', 'port domain', 'udp port domain', 'tcp port ssh', 'port ntp', 'port https', 'src or dst port 2000', 'src and dst port 2000',
  'portrange 1000-2000', 'tcp portrange 1-1023', 'udp src portrange 100-200', 'dst portrange 2000-1000', 'portrange 5353', 'ip6 and portrange 0-100',
  'less 60', 'greater 100', 'less 64 and tcp', 'greater 1500', 'len > 100', 'len <= 60', 'len = 54', 'len != 42', 'len >= 14 and len < 15',
  'tcp[tcpflags] & tcp-syn != 0', 'tcp[tcpflags] & (tcp-syn|tcp-ack) != 0', 'tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn', 'tcp[tcpflags] = tcp-rst', 'tcp[13] & 0x12 = 0x12',
  'tcp[tcpflags] & (tcp-fin|tcp-push|tcp-urg) != 0', 'tcp[tcpflags] & tcp-ece != 0 or tcp[tcpflags] & tcp-cwr != 0', 'tcp[0:2] = 80', 'tcp[2:2] > 1024', 'tcp[12] >> 4 > 5',
  'icmp[icmptype] = icmp-echo', 'icmp[icmptype] = icmp-echoreply', 'icmp[icmptype] != icmp-echo and icmp[icmptype] != icmp-echoreply', 'icmp[0] = 3 and icmp[1] = 1', 'icmp[icmpcode] > 1',
  'icmp6[icmp6type] = icmp6-echo', 'icmp6[0] = 135', 'icmp6[icmp6type] = icmp6-neighboradvert',
  'udp[0:2] = 53', 'udp[2:2] = 123 or udp[0:2] = 123', 'udp[4:2] > 20',
  'ip[2:2] > 576', 'ip[0] & 0xf > 5', 'ip[0] & 0xf != 5', 'ip[6:2] & 0x1fff != 0', 'ip[6] & 0x20 != 0', 'ip[8] < 64', 'ip[9] = 6', 'ip[12:4] = 0x0a000001', 'ip[16] >= 224', 'ip[1] & 0xfc = 0x10',
  'ip6[6] = 44', 'ip6[7] > 100', 'ip6[40] = 6', 'ether[0] & 1 != 0', 'ether[12:2] = 0x8100', 'ether[6:4] = 0x02000000', 'link[12:2] = 0x0806', 'arp[7] = 2', 'arp[14:4] = 0x0a000001',
  'ip[2:2] - 20 > 40', 'ip[2:2] * 2 > 1000', 'ip[2:2] / 4 < 20', 'ip[2:2] % 7 = 3', '(ip[0] & 0xf) * 4 > 20', 'ip[2:2] + ip[0] > 100', 'ip[8] | 1 = 65', 'ip[8] ^ 0xff > 200', 'ip[2:2] << 1 > 200', 'ip[2:2] >> 2 < 20', '-ip[8] > 100', 'len - 14 > 50',
  'vlan', 'vlan 10', 'vlan 100', 'vlan and ip', 'vlan 20 and ip6', 'vlan and tcp port 80', 'vlan and vlan', 'vlan 100 and vlan 10', 'vlan 4095', 'not vlan', 'vlan and host 10.0.0.1',
  'mpls', 'mpls 100', 'mpls and ip', 'mpls 100 and ip', 'mpls and ip6', 'mpls and mpls 1024', 'mpls 300 and mpls 1024 and ip', 'mpls and host 10.0.0.1', 'mpls and not ip',
  'not tcp', '! udp', 'not not arp', 'tcp or udp', 'tcp and udp', 'ip and not tcp', 'not (tcp or udp)', '(tcp or udp) and port 53', 'tcp && port 80', 'udp || icmp', 'ip && !tcp',
  'tcp and (port 80 or port 443) and not host 10.0.0.1', 'host 10.0.0.1 and (tcp or icmp)', 'src net 10.0.0.0/8 and dst net 192.168.0.0/16', 'ip6 and tcp and port 80', 'ip6 and udp and not port 53',
  'arp or (ip and icmp)', '(ip or ip6) and (tcp or udp)', 'icmp or icmp6', 'not ip and not ip6', 'ether broadcast and arp', 'ether multicast and ip6', 'greater 100 and tcp', 'less 100 or icmp',
  'tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack = 0', 'udp and (src port 53 or dst port 53)', 'ip[6:2] & 0x3fff != 0', 'ip and ip[6:2] & 0x1fff = 0 and tcp',
  '1 = 1', '2 > 1', '0 = 0 and tcp', 'ip and arp', 'tcp and udp and icmp', '5 + 3 = 8 or udp', 'ip[0] = 0x45 or ip6[0] & 0xf0 = 0x60',
  'port 99999', 'host foo', 'tcp and', 'ip[2:3] > 1', 'net 10.0.0.1/8', 'vlan 5000', 'host 10.0.0.1 mask 255.0.0.0', 'ether host 1:2:3', '(', 'ip[2:2] / 0 > 1', 'tcp port 80 and and', 'port ftpx', 'udp port ssh', 'mpls and arp', 'ip6 host 10.0.0.1', 'ip proto \\nosuch',
];

/** `count` expressions of up to `depth` nested and/or/not over the primitives tsbpf supports. */
export function generateExpressions(count: number, seed: number): string[] {
  const rand = seededRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const primitive = (): string => {
    switch (Math.floor(rand() * 16)) {
      case 0: return `${pick(['', 'src ', 'dst ', 'src or dst ', 'src and dst '])}host ${pick(HOSTS_V4)}`;
      case 1: return `${pick(['', 'src ', 'dst '])}host ${pick(HOSTS_V6)}`;
      case 2: return `${pick(['', 'src ', 'dst '])}net ${pick(['10.0.0.0/8', '192.168.0.0/16', '10.0.0.0/24', '224.0.0.0/4', '2001:db8::/32', 'fe80::/10'])}`;
      case 3: return `${pick(['', 'tcp ', 'udp '])}${pick(['', 'src ', 'dst '])}port ${pick(PORTS)}`;
      case 4: return `${pick(['', 'tcp ', 'udp '])}portrange ${pick(PORTS)}-${pick(PORTS)}`;
      case 5: return pick(['ip', 'ip6', 'arp', 'rarp', 'tcp', 'udp', 'icmp', 'icmp6', 'sctp', 'esp', 'ah']);
      case 6: return pick(['vlan', 'vlan 10', 'vlan 20', 'mpls', 'mpls 100']);
      case 7: return pick(['less 60', 'greater 80', 'less 100', 'greater 40']);
      case 8: return `tcp[tcpflags] & ${pick(['tcp-syn', 'tcp-ack', 'tcp-fin', 'tcp-rst', '(tcp-syn|tcp-ack)', 'tcp-push'])} ${pick(['!= 0', '= 0'])}`;
      case 9: return `ip[${pick(['0', '1', '2:2', '6:2', '8', '9', '12:4', '16:4'])}] ${pick(['&', '|', '+', '-', '*', '>>'])} ${Math.floor(rand() * 16)} ${pick(['=', '!=', '>', '<', '>=', '<='])} ${Math.floor(rand() * 300)}`;
      case 10: return `len ${pick(['>', '<', '>=', '<=', '=', '!='])} ${Math.floor(rand() * 120)}`;
      case 11: return `ether ${pick(['src', 'dst', 'host'])} ${pick(['02:00:00:00:00:01', '02:00:00:00:00:02', 'ff:ff:ff:ff:ff:ff'])}`;
      case 12: return pick(['broadcast', 'multicast', 'ip multicast', 'ip6 multicast', 'ether broadcast']);
      case 13: return `${pick(['ip', 'ip6', ''])} proto ${pick(['\\tcp', '\\udp', '1', '17', '58'])}`.trim();
      case 14: return `icmp[${pick(['0', '1', 'icmptype'])}] ${pick(['=', '!='])} ${pick(['0', '3', '8', 'icmp-echo'])}`;
      default: return `udp[${pick(['0:2', '2:2', '4:2'])}] ${pick(['>', '='])} ${pick(PORTS)}`;
    }
  };
  const expr = (depth: number): string => {
    const r = rand();
    if (depth <= 0 || r < 0.3) return primitive();
    if (r < 0.4) return `not ${depth > 1 && rand() < 0.5 ? `(${expr(depth - 1)})` : primitive()}`;
    const left = expr(depth - 1);
    const right = expr(depth - 1);
    const wrap = (s: string): string => (rand() < 0.5 ? `(${s})` : s);
    return `${wrap(left)} ${pick(['and', 'or', '&&', '||'])} ${wrap(right)}`;
  };
  return Array.from({ length: count }, () => expr(3));
}
