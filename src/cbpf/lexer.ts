/**
 * The lexer of the pcap-filter language, with libpcap's scanner rules:
 * the longest match wins, keywords beat identifiers of the same length,
 * numbers are decimal, 0x hex or 0 octal, and a few names (tcpflags,
 * tcp-syn, icmp-echo...) are numbers.
 */
import { parseIpv6 } from '../net/index.ts';
import { FilterSyntaxError } from './errors.ts';

export type TokenKind = 'keyword' | 'id' | 'num' | 'hid' | 'hid6' | 'eid' | 'op' | 'end';

export interface Token {
  kind: TokenKind;
  /** The text as written (for keywords, lower case). */
  text: string;
  /** For 'num': the value (unsigned 32-bit). */
  value: number;
  /** 0-based offset in the expression. */
  position: number;
}

export const KEYWORDS = new Set([
  'dst', 'src', 'host', 'gateway', 'net', 'mask', 'port', 'portrange', 'proto', 'protochain',
  'ether', 'fddi', 'tr', 'wlan', 'link', 'ppp', 'slip', 'ip', 'ip6', 'arp', 'rarp', 'tcp', 'udp', 'sctp', 'icmp', 'icmp6',
  'igmp', 'igrp', 'pim', 'vrrp', 'carp', 'ah', 'esp', 'atalk', 'aarp', 'decnet', 'lat', 'sca', 'moprc', 'mopdl', 'iso', 'stp', 'ipx', 'netbeui',
  'broadcast', 'multicast', 'less', 'greater', 'len', 'vlan', 'mpls', 'and', 'or', 'not', 'inbound', 'outbound',
]);

/** Names the scanner turns into numbers (libpcap's scanner.l). */
export const NAMED_NUMBERS: Readonly<Record<string, number>> = {
  icmptype: 0, icmpcode: 1,
  'icmp-echoreply': 0, 'icmp-unreach': 3, 'icmp-sourcequench': 4, 'icmp-redirect': 5, 'icmp-echo': 8, 'icmp-routeradvert': 9,
  'icmp-routersolicit': 10, 'icmp-timxceed': 11, 'icmp-paramprob': 12, 'icmp-tstamp': 13, 'icmp-tstampreply': 14, 'icmp-ireq': 15,
  'icmp-ireqreply': 16, 'icmp-maskreq': 17, 'icmp-maskreply': 18,
  icmp6type: 0, icmp6code: 1,
  'icmp6-destinationunreach': 1, 'icmp6-packettoobig': 2, 'icmp6-timeexceeded': 3, 'icmp6-parameterproblem': 4,
  'icmp6-echo': 128, 'icmp6-echoreply': 129, 'icmp6-multicastlistenerquery': 130, 'icmp6-multicastlistenerreportv1': 131,
  'icmp6-multicastlistenerdone': 132, 'icmp6-routersolicit': 133, 'icmp6-routeradvert': 134, 'icmp6-neighborsolicit': 135,
  'icmp6-neighboradvert': 136, 'icmp6-redirect': 137,
  tcpflags: 13, 'tcp-fin': 0x01, 'tcp-syn': 0x02, 'tcp-rst': 0x04, 'tcp-push': 0x08, 'tcp-ack': 0x10, 'tcp-urg': 0x20, 'tcp-ece': 0x40, 'tcp-cwr': 0x80,
};

const OPERATORS = ['&&', '||', '==', '!=', '>=', '<=', '<<', '>>', '(', ')', '[', ']', ':', '!', '=', '>', '<', '+', '-', '*', '/', '%', '&', '|', '^'];

const ID = /^[A-Za-z0-9]([-_.A-Za-z0-9]*[.A-Za-z0-9])?/;
const ESCAPED_ID = /^\\[^ !()\n\t]+/;
const NUM = /^(0[xX][0-9A-Fa-f]+|[0-9]+)/;
const HID = /^[0-9]+(\.[0-9]+){1,3}/;
const MAC = [/^[0-9A-Fa-f]{1,2}(:[0-9A-Fa-f]{1,2}){5}/, /^[0-9A-Fa-f]{1,2}(-[0-9A-Fa-f]{1,2}){5}/, /^[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}/, /^[0-9A-Fa-f]{2}(\.[0-9A-Fa-f]{2}){5}/];
const V6_CANDIDATE = /^[0-9A-Fa-f:][0-9A-Fa-f:.]*/;

/** A decimal, 0x hex or 0-prefixed octal number, or undefined when it does not fit in 32 bits. */
export function parseNumber(text: string): number | undefined {
  let value: number;
  if (/^0[xX]/.test(text)) value = Number.parseInt(text.slice(2), 16);
  else if (/^0[0-7]+$/.test(text)) value = Number.parseInt(text.slice(1), 8);
  else if (/^[0-9]+$/.test(text)) value = Number(text);
  else return undefined;
  return value > 0xffffffff ? undefined : value;
}

function longestV6(rest: string): number {
  const candidate = V6_CANDIDATE.exec(rest)?.[0] ?? '';
  if (!candidate.includes(':')) return 0;
  // The longest prefix that is an IPv6 address (a trailing ':' belongs to the next token, as in ip6[2:2]).
  for (let n = candidate.length; n > 1; n--) {
    const text = candidate.slice(0, n);
    if (!text.includes('::') && text.split(':').length !== 8) continue;
    try {
      parseIpv6(text);
      return n;
    } catch {
      // not an address: try a shorter prefix
    }
  }
  return 0;
}

export function tokenize(expression: string): Token[] {
  const tokens: Token[] = [];
  let pos = 0;
  while (pos < expression.length) {
    const c = expression[pos]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      pos++;
      continue;
    }
    const rest = expression.slice(pos);
    // Candidates in flex rule order; the longest wins, then the earliest rule.
    const candidates: Array<{ kind: TokenKind; length: number }> = [];
    for (const mac of MAC) {
      const m = mac.exec(rest);
      if (m) candidates.push({ kind: 'eid', length: m[0].length });
    }
    const v6 = longestV6(rest);
    if (v6 > 0) candidates.push({ kind: 'hid6', length: v6 });
    const hid = HID.exec(rest);
    if (hid) candidates.push({ kind: 'hid', length: hid[0].length });
    const num = NUM.exec(rest);
    if (num) candidates.push({ kind: 'num', length: num[0].length });
    const id = ID.exec(rest) ?? ESCAPED_ID.exec(rest);
    if (id) candidates.push({ kind: 'id', length: id[0].length });
    if (candidates.length === 0) {
      const operator = OPERATORS.find((o) => rest.startsWith(o));
      if (operator === undefined) throw new FilterSyntaxError(`illegal character '${c}'`, expression, pos);
      tokens.push({ kind: 'op', text: operator, value: 0, position: pos });
      pos += operator.length;
      continue;
    }
    let best = candidates[0]!;
    for (const candidate of candidates) if (candidate.length > best.length) best = candidate;
    const text = rest.slice(0, best.length);
    tokens.push(classify(best.kind, text, expression, pos));
    pos += best.length;
  }
  tokens.push({ kind: 'end', text: '', value: 0, position: expression.length });
  return tokens;
}

function classify(kind: TokenKind, text: string, expression: string, position: number): Token {
  if (kind === 'num') {
    const value = parseNumber(text);
    if (value === undefined) throw new FilterSyntaxError(`number '${text}' out of range`, expression, position);
    return { kind, text, value, position };
  }
  if (kind === 'id') {
    if (text.startsWith('\\')) return { kind, text: text.slice(1), value: 0, position };
    const lower = text;
    if (KEYWORDS.has(lower)) return { kind: 'keyword', text: lower, value: 0, position };
    const named = NAMED_NUMBERS[lower];
    if (named !== undefined) return { kind: 'num', text, value: named, position };
  }
  return { kind, text, value: 0, position };
}
