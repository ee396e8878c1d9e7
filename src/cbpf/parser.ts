/**
 * A recursive-descent parser for pcap-filter(7) that generates code as it
 * reduces, in the order libpcap's yacc grammar does (which matters: `vlan`
 * and `mpls` shift the offsets of everything parsed after them).
 *
 * `and` and `or` have equal precedence and associate left to right; `not`
 * binds tightest. A bare address or number after `and`/`or` takes the
 * qualifiers of the last primitive (`host a or b`, `port 80 or 443`).
 */
import { and, finish, not, or, type Block, type Chunk } from './blocks.ts';
import { type Arith, Codegen, CodegenError, type DirQual, type ProtoQual } from './codegen.ts';
import { FilterSyntaxError } from './errors.ts';
import { tokenize, type Token } from './lexer.ts';
import { ETHER_PROTOCOLS, IP_PROTOCOLS, SERVICES } from './names.ts';
import { Alu, Jmp } from './opcodes.ts';
import { parseIpv6, parseMac } from '../net/index.ts';

type AddrQual = 'default' | 'host' | 'net' | 'port' | 'portrange' | 'gateway' | 'proto' | 'protochain';

interface Qualifiers {
  proto: ProtoQual;
  dir: DirQual;
  addr: AddrQual;
}

const PNAMES: Readonly<Record<string, ProtoQual>> = {
  link: 'link', ether: 'link', ppp: 'link', slip: 'link', fddi: 'link', tr: 'link', wlan: 'link',
  ip: 'ip', ip6: 'ip6', arp: 'arp', rarp: 'rarp', tcp: 'tcp', udp: 'udp', sctp: 'sctp', icmp: 'icmp', icmp6: 'icmp6',
  igmp: 'igmp', igrp: 'igrp', pim: 'pim', vrrp: 'vrrp', carp: 'carp', ah: 'ah', esp: 'esp',
};
const UNSUPPORTED_PNAMES = new Set(['atalk', 'aarp', 'decnet', 'lat', 'sca', 'moprc', 'mopdl', 'iso', 'stp', 'ipx', 'netbeui']);
/** libpcap's other keywords (scanner.l: LLC, tunnels, PPPoE, pflog, 802.11, ISO, SS7, ATM): tcpdump parses them, tsbpf names them as unsupported rather than a bare syntax error. */
const LIBPCAP_ONLY_KEYWORDS = new Set([
  'llc', 'geneve', 'vxlan', 'pppoed', 'pppoes', 'ifname', 'on', 'rnr', 'rulenum', 'reason', 'rset', 'srnr', 'subrulenum', 'action',
  'type', 'subtype', 'dir', 'ra', 'ta', 'addr1', 'addr2', 'addr3', 'addr4', 'esis', 'es-is', 'isis', 'is-is', 'l1', 'l2', 'iih', 'lsp',
  'snp', 'csnp', 'psnp', 'clnp', 'radio', 'fisu', 'lssu', 'msu', 'hfisu', 'hlssu', 'hmsu', 'sio', 'opc', 'dpc', 'sls', 'hsio', 'hopc',
  'hdpc', 'hsls', 'vpi', 'vci', 'lane', 'oamf4', 'oamf4ec', 'oamf4sc', 'oam', 'metac', 'bcc', 'sc', 'ilmic', 'connectmsg', 'metaconnect',
]);
const AQUALS = new Set(['host', 'net', 'port', 'portrange', 'gateway']);
const RELOPS: Readonly<Record<string, { op: number; reversed: boolean }>> = {
  '>': { op: Jmp.JGT, reversed: false },
  '>=': { op: Jmp.JGE, reversed: false },
  '=': { op: Jmp.JEQ, reversed: false },
  '==': { op: Jmp.JEQ, reversed: false },
  '!=': { op: Jmp.JEQ, reversed: true },
  '<': { op: Jmp.JGE, reversed: true },
  '<=': { op: Jmp.JGT, reversed: true },
};
/** Binary arithmetic operators by precedence level (libpcap's %left lines); '^' has none, see parseOperand. */
const ARITH_LEVELS: ReadonlyArray<Readonly<Record<string, number>>> = [
  { '|': Alu.OR },
  { '&': Alu.AND },
  { '<<': Alu.LSH, '>>': Alu.RSH },
  { '+': Alu.ADD, '-': Alu.SUB },
  { '*': Alu.MUL, '/': Alu.DIV, '%': Alu.MOD },
];
const ARITH_CONTINUATION = new Set(['|', '&', '<<', '>>', '+', '-', '*', '/', '%', '^', ...Object.keys(RELOPS)]);

/** Deepest nesting of parentheses, `not`s and unary minus an expression may have. */
const MAX_NESTING = 500;

export interface ParseOptions {
  linkType: number;
  netmask: number;
  /** The return value for accepted packets (tcpdump's snapshot length). */
  snaplen: number;
}

export class FilterParser {
  private readonly tokens: Token[];
  private readonly closing: number[];
  private pos = 0;
  private readonly gen: Codegen;
  /** The qualifiers a bare id takes (libpcap's $<blk>0.q); undefined after a term that sets none. */
  private lastQuals: Qualifiers | undefined;

  constructor(
    private readonly expression: string,
    private readonly options: ParseOptions,
  ) {
    this.tokens = tokenize(expression);
    // The token closing each '(' or '[' (-1 when unbalanced), found once: deciding what a '(' opens looks past its ')'.
    const open: number[] = [];
    this.closing = new Array<number>(this.tokens.length).fill(-1);
    this.tokens.forEach((t, i) => {
      if (t.kind !== 'op') return;
      if (t.text === '(' || t.text === '[') open.push(i);
      else if ((t.text === ')' || t.text === ']') && open.length > 0) this.closing[open.pop()!] = i;
    });
    try {
      this.gen = new Codegen({ linkType: options.linkType, netmask: options.netmask });
    } catch (error) {
      throw error instanceof CodegenError ? new FilterSyntaxError(error.message, expression, 0) : error;
    }
  }

  /** The program's root block (an empty expression is a lone `ret #snaplen`, as pcap_compile makes it). */
  parse(): Block {
    if (this.peek().kind === 'end') return this.gen.blocks.ret(this.options.snaplen);
    const chunk = this.parseExpr();
    if (this.peek().kind !== 'end') throw this.syntaxError();
    return this.at(this.peek(), () => finish(this.gen.blocks, chunk, this.options.snaplen));
  }

  // Tokens.

  private peek(ahead = 0): Token {
    return this.tokens[Math.min(this.pos + ahead, this.tokens.length - 1)]!;
  }

  private next(): Token {
    const t = this.peek();
    if (t.kind !== 'end') this.pos++;
    return t;
  }

  private isOp(t: Token, ...ops: string[]): boolean {
    return t.kind === 'op' && ops.includes(t.text);
  }

  private isKeyword(t: Token, ...words: string[]): boolean {
    return t.kind === 'keyword' && words.includes(t.text);
  }

  private isAnd(t: Token): boolean {
    return this.isKeyword(t, 'and') || this.isOp(t, '&&');
  }

  private isOr(t: Token): boolean {
    return this.isKeyword(t, 'or') || this.isOp(t, '||');
  }

  private isNot(t: Token): boolean {
    return this.isKeyword(t, 'not') || this.isOp(t, '!');
  }

  private expectOp(op: string): Token {
    const t = this.next();
    if (!this.isOp(t, op)) throw this.syntaxError(t);
    return t;
  }

  private syntaxError(t: Token = this.peek()): FilterSyntaxError {
    if (t.kind === 'id' && LIBPCAP_ONLY_KEYWORDS.has(t.text.toLowerCase())) {
      return new FilterSyntaxError(`'${t.text}' is a libpcap keyword that tsbpf does not support (only Ethernet, IPv4/IPv6, ARP and RARP, VLAN and MPLS)`, this.expression, t.position);
    }
    return new FilterSyntaxError('syntax error', this.expression, t.position);
  }

  /** Runs a code generator, turning its errors into positioned ones. */
  private at<T>(t: Token, generate: () => T): T {
    try {
      return generate();
    } catch (error) {
      if (error instanceof CodegenError) throw new FilterSyntaxError(error.message, this.expression, t.position);
      throw error;
    }
  }

  // Boolean expressions.

  private parseExpr(): Chunk {
    let left = this.parseTerm();
    for (;;) {
      const t = this.peek();
      const isAnd = this.isAnd(t);
      if (!isAnd && !this.isOr(t)) return left;
      this.next();
      if (this.startsBareId() && this.lastQuals === undefined && LIBPCAP_ONLY_KEYWORDS.has(this.peek().text.toLowerCase())) throw this.syntaxError();
      const right = this.startsBareId() ? this.parseId(this.inheritedQuals(t)) : this.parseTerm();
      left = isAnd ? and(left, right) : or(left, right);
    }
  }

  private inheritedQuals(at: Token): Qualifiers {
    if (this.lastQuals === undefined) throw new FilterSyntaxError('syntax error in filter expression', this.expression, at.position);
    return this.lastQuals;
  }

  /** Whether the next tokens are an id with no qualifiers (after skipping `not`s): an address, a name, or a number not followed by arithmetic. */
  private startsBareId(): boolean {
    let i = 0;
    while (this.isNot(this.peek(i))) i++;
    const t = this.peek(i);
    if (t.kind === 'id' || t.kind === 'hid' || t.kind === 'hid6' || t.kind === 'eid') return true;
    if (t.kind === 'num') {
      const after = this.peek(i + 1);
      return !(after.kind === 'op' && ARITH_CONTINUATION.has(after.text));
    }
    if (this.isOp(t, '(')) {
      const inner = this.peek(i + 1);
      return inner.kind === 'id' || inner.kind === 'hid' || inner.kind === 'hid6' || inner.kind === 'eid';
    }
    return false;
  }

  /** Recursion depth of the parser: bounded so that no expression exhausts the stack. */
  private depth = 0;

  private nested<T>(parse: () => T): T {
    if (++this.depth > MAX_NESTING) throw new FilterSyntaxError(`expression nested more than ${MAX_NESTING} deep`, this.expression, this.peek().position);
    try {
      return parse();
    } finally {
      this.depth--;
    }
  }

  private parseTerm(): Chunk {
    return this.nested(() => this.parseTermAt());
  }

  private parseTermAt(): Chunk {
    const t = this.peek();
    if (this.isNot(t)) {
      this.next();
      return not(this.parseTerm());
    }
    if (this.isOp(t, '(')) {
      if (this.parenIsArithmetic()) return this.parseRelation();
      const saved = this.lastQuals;
      this.next();
      const inner = this.parseExpr();
      this.expectOp(')');
      this.lastQuals = saved;
      return inner;
    }
    if (t.kind === 'keyword') return this.parseKeywordTerm(t);
    if (t.kind === 'num' || this.isOp(t, '-')) return this.parseRelation();
    throw this.syntaxError(t);
  }

  /** Whether the '(' here opens arithmetic: the token after its matching ')' continues an arithmetic expression or a relation. */
  private parenIsArithmetic(): boolean {
    const close = this.closing[this.pos];
    if (close === undefined || close < 0) return false;
    const after = this.tokens[close + 1]!;
    return after.kind === 'op' && ARITH_CONTINUATION.has(after.text);
  }

  private parseKeywordTerm(t: Token): Chunk {
    const word = t.text;
    if (word === 'len') return this.parseRelation();
    if (UNSUPPORTED_PNAMES.has(word)) throw new FilterSyntaxError(`'${word}' is not supported by tsbpf (only Ethernet, IPv4/IPv6, ARP and RARP)`, this.expression, t.position);
    if (word === 'less' || word === 'greater') {
      this.next();
      const n = this.parsePnum();
      this.lastQuals = undefined;
      return this.at(t, () => (word === 'less' ? this.gen.length(Jmp.JGT, n, true) : this.gen.length(Jmp.JGE, n, false)));
    }
    if (word === 'vlan' || word === 'mpls') {
      this.next();
      const n = this.peekPnum() ? this.parsePnum() : undefined;
      this.lastQuals = undefined;
      return this.at(t, () => (word === 'vlan' ? this.gen.vlan(n) : this.gen.mpls(n)));
    }
    if (word === 'inbound' || word === 'outbound') {
      throw new FilterSyntaxError(`'${word}' is only supported on live Linux captures (SLL), not in tsbpf`, this.expression, t.position);
    }
    if (word === 'broadcast' || word === 'multicast') return this.parseCast('default', t);
    let proto: ProtoQual = 'default';
    const pname = PNAMES[word];
    if (pname !== undefined) {
      const after = this.peek(1);
      if (this.isOp(after, '[')) return this.parseRelation();
      this.next();
      proto = pname;
      if (this.isKeyword(after, 'broadcast', 'multicast')) return this.parseCast(proto, after);
      if (!this.startsQualifier(after)) {
        this.lastQuals = undefined;
        return this.at(t, () => this.gen.protoAbbrev(proto));
      }
    }
    return this.parseHead(proto);
  }

  private startsQualifier(t: Token): boolean {
    return this.isKeyword(t, 'src', 'dst', 'proto', 'protochain') || (t.kind === 'keyword' && AQUALS.has(t.text));
  }

  private parseCast(proto: ProtoQual, t: Token): Chunk {
    this.next();
    this.lastQuals = undefined;
    return this.at(t, () => (t.text === 'broadcast' ? this.gen.broadcast(proto) : this.gen.multicast(proto)));
  }

  /** Direction and address qualifiers, then an id. */
  private parseHead(proto: ProtoQual): Chunk {
    let dir: DirQual = 'default';
    let addr: AddrQual = 'default';
    let t = this.peek();
    if (this.isKeyword(t, 'src', 'dst')) {
      this.next();
      dir = t.text as DirQual;
      const joiner = this.peek();
      const other = this.peek(1);
      if ((this.isKeyword(joiner, 'or') || this.isKeyword(joiner, 'and')) && this.isKeyword(other, t.text === 'src' ? 'dst' : 'src')) {
        this.next();
        this.next();
        dir = joiner.text as DirQual;
      }
      t = this.peek();
    }
    if (t.kind === 'keyword' && (AQUALS.has(t.text) || t.text === 'proto' || t.text === 'protochain')) {
      if (dir !== 'default' && (t.text === 'proto' || t.text === 'protochain')) throw this.syntaxError(t);
      this.next();
      addr = t.text as AddrQual;
    } else if (dir === 'default') {
      throw this.syntaxError(t);
    }
    const quals = { proto, dir, addr };
    return this.parseId(quals);
  }

  /** An id with its qualifiers: an address, a name, a number, `not id`, or `( id and|or id ... )`. */
  private parseId(quals: Qualifiers): Chunk {
    return this.nested(() => this.parseIdAt(quals));
  }

  private parseIdAt(quals: Qualifiers): Chunk {
    this.lastQuals = quals;
    const t = this.peek();
    if (this.isNot(t)) {
      this.next();
      return not(this.parseId(quals));
    }
    if (this.isOp(t, '(')) {
      this.next();
      let chunk = this.parseId(quals);
      for (;;) {
        const joiner = this.peek();
        if (this.isAnd(joiner)) {
          this.next();
          chunk = and(chunk, this.parseId(quals));
        } else if (this.isOr(joiner)) {
          this.next();
          chunk = or(chunk, this.parseId(quals));
        } else break;
      }
      this.expectOp(')');
      this.lastQuals = quals;
      return chunk;
    }
    this.next();
    const chunk = this.at(t, () => this.idCode(t, quals));
    this.lastQuals = quals;
    return chunk;
  }

  private idCode(t: Token, q: Qualifiers): Chunk {
    switch (t.kind) {
      case 'num':
        return this.numberCode(t.value, 32, q, t);
      case 'hid': {
        if (this.isOp(this.peek(), '/')) {
          this.next();
          return this.maskedNet(t.text, undefined, this.parseMaskLength(), q);
        }
        if (this.isKeyword(this.peek(), 'mask')) {
          this.next();
          const m = this.next();
          if (m.kind !== 'hid') throw this.syntaxError(m);
          return this.maskedNet(t.text, m.text, 0, q);
        }
        const { value, bits } = parseDotted(t.text);
        return this.numberCode(value, bits, q, t);
      }
      case 'hid6': {
        let length = 128;
        if (this.isOp(this.peek(), '/')) {
          this.next();
          length = this.parseMaskLength();
        }
        return this.ipv6Code(t.text, length, q);
      }
      case 'eid':
        if ((q.addr === 'host' || q.addr === 'default') && q.proto === 'link') return this.gen.etherHost(macBytes(t.text), q.dir);
        throw new CodegenError('ethernet address used in non-ether expression');
      case 'id':
        return this.nameCode(t.text, q);
      default:
        throw new CodegenError('syntax error');
    }
  }

  private parseMaskLength(): number {
    const n = this.next();
    if (n.kind !== 'num') throw this.syntaxError(n);
    return n.value;
  }

  /** gen_ncode: a number or dotted address with the bits it gave. */
  private numberCode(v: number, bits: number, q: Qualifiers, t: Token): Chunk {
    switch (q.addr) {
      case 'default':
      case 'host':
      case 'net': {
        if (q.proto === 'link') throw new CodegenError('illegal link layer address');
        let value = v >>> 0;
        let mask = 0xffffffff;
        if (t.kind === 'num' && q.addr === 'net') {
          while (value !== 0 && (value & 0xff000000) === 0) {
            value = (value << 8) >>> 0;
            mask = (mask << 8) >>> 0;
          }
        } else if (bits < 32) {
          value = (value << (32 - bits)) >>> 0;
          mask = (mask << (32 - bits)) >>> 0;
        }
        return this.gen.host(value, mask, q.proto, q.dir, q.addr === 'net' ? 'net' : 'host');
      }
      case 'port':
      case 'portrange': {
        const ipProto = this.portProto(q);
        if (v > 65535) throw new CodegenError(`illegal port number ${v} > 65535`);
        return this.gen.ports(v, q.addr === 'portrange' ? v : undefined, ipProto, q.dir);
      }
      case 'gateway':
        throw new CodegenError("'gateway' requires a name");
      case 'proto':
        return this.gen.proto(v, q.proto, q.dir !== 'default');
      case 'protochain':
        throw new CodegenError("'protochain' is not supported by tsbpf");
    }
  }

  /** The transport a port qualifier names (undefined: any of sctp, tcp and udp). */
  private portProto(q: Qualifiers): number | undefined {
    const which = q.addr === 'portrange' ? 'portrange' : 'port';
    if (q.proto === 'tcp') return 6;
    if (q.proto === 'udp') return 17;
    if (q.proto === 'sctp') return 132;
    if (q.proto === 'default') return undefined;
    throw new CodegenError(`illegal qualifier of '${which}'`);
  }

  private maskedNet(address: string, maskText: string | undefined, length: number, q: Qualifiers): Chunk {
    const n = parseDotted(address);
    const net = n.bits < 32 ? (n.value << (32 - n.bits)) >>> 0 : n.value;
    let mask: number;
    if (maskText !== undefined) {
      const m = parseDotted(maskText);
      mask = m.bits < 32 ? (m.value << (32 - m.bits)) >>> 0 : m.value;
      if ((net & ~mask) >>> 0 !== 0) throw new CodegenError(`non-network bits set in "${address} mask ${maskText}"`);
    } else {
      if (length > 32) throw new CodegenError('mask length must be <= 32');
      mask = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
      if ((net & ~mask) >>> 0 !== 0) throw new CodegenError(`non-network bits set in "${address}/${length}"`);
    }
    if (q.addr !== 'net') throw new CodegenError('Mask syntax for networks only');
    return this.gen.host(net, mask, q.proto, q.dir, 'net');
  }

  private ipv6Code(text: string, length: number, q: Qualifiers): Chunk {
    let addr: Uint8Array;
    try {
      addr = parseIpv6(text);
    } catch {
      throw new CodegenError(`invalid ip6 address ${text}`);
    }
    if (length > 128) throw new CodegenError('mask length must be <= 128');
    const mask = new Uint8Array(16);
    for (let bit = 0; bit < length; bit++) mask[bit >> 3]! |= 0x80 >> (bit & 7);
    if (addr.some((b, i) => (b & ~mask[i]!) !== 0)) throw new CodegenError(`non-network bits set in "${text}/${length}"`);
    if (q.addr === 'default' || q.addr === 'host') {
      if (length !== 128) throw new CodegenError('Mask syntax for networks only');
    } else if (q.addr !== 'net') {
      throw new CodegenError('invalid qualifier against IPv6 address');
    }
    return this.gen.host6(addr, mask, q.proto, q.dir, q.addr === 'net' ? 'net' : 'host');
  }

  /** gen_scode: a name. */
  private nameCode(name: string, q: Qualifiers): Chunk {
    switch (q.addr) {
      case 'net':
        throw new CodegenError(`unknown network '${name}'`);
      case 'default':
      case 'host':
        if (q.proto === 'link') throw new CodegenError(`unknown ether host '${name}'`);
        throw new CodegenError(`unknown host '${name}'`);
      case 'port': {
        const ipProto = this.portProto(q);
        const service = SERVICES[name];
        if (service === undefined) throw new CodegenError(`unknown port '${name}'`);
        return this.gen.ports(service.port, undefined, this.serviceProto(name, service, ipProto), q.dir);
      }
      case 'portrange': {
        const ipProto = this.portProto(q);
        const range = /^(\w[\w-]*?)-(\w[\w-]*)$/.exec(name);
        const resolve = (part: string): number | undefined => (/^\d+$/.test(part) ? Number(part) : SERVICES[part]?.port);
        const low = range ? resolve(range[1]!) : undefined;
        const high = range ? resolve(range[2]!) : undefined;
        if (low === undefined || high === undefined) throw new CodegenError(`unknown port in range '${name}'`);
        if (low > 65535) throw new CodegenError(`illegal port number ${low} > 65535`);
        if (high > 65535) throw new CodegenError(`illegal port number ${high} > 65535`);
        return this.gen.ports(low, high, ipProto, q.dir);
      }
      case 'proto': {
        if (q.proto === 'link') {
          const value = ETHER_PROTOCOLS[name];
          if (value === undefined) throw new CodegenError(`unknown ether proto '${name}'`);
          return this.gen.proto(value, q.proto, q.dir !== 'default');
        }
        if (q.proto === 'default' || q.proto === 'ip' || q.proto === 'ip6') {
          const value = IP_PROTOCOLS[name];
          if (value === undefined) throw new CodegenError(`unknown ip proto '${name}'`);
          return this.gen.proto(value, q.proto, q.dir !== 'default');
        }
        return this.gen.proto(0, q.proto, q.dir !== 'default');
      }
      case 'gateway':
        throw new CodegenError("'gateway' is not supported by tsbpf (it needs host name and ethers lookups)");
      case 'protochain':
        throw new CodegenError("'protochain' is not supported by tsbpf");
    }
  }

  private serviceProto(name: string, service: { tcp: boolean; udp: boolean }, asked: number | undefined): number | undefined {
    const real = service.tcp && service.udp ? undefined : service.tcp ? 6 : 17;
    if (asked === 17 && real === 6) throw new CodegenError(`port '${name}' is tcp`);
    if (asked === 6 && real === 17) throw new CodegenError(`port '${name}' is udp`);
    if (asked !== undefined && asked !== 132) return asked;
    if (asked === 132) throw new CodegenError(`port '${name}' is ${real === 6 ? 'tcp' : real === 17 ? 'udp' : 'tcp/udp'}`);
    return real;
  }

  // Arithmetic.

  private peekPnum(): boolean {
    let i = 0;
    while (this.isOp(this.peek(i), '(')) i++;
    return this.peek(i).kind === 'num';
  }

  /** A number, possibly parenthesised. */
  private parsePnum(): number {
    const t = this.next();
    if (this.isOp(t, '(')) {
      const n = this.parsePnum();
      this.expectOp(')');
      return n;
    }
    if (t.kind !== 'num') throw this.syntaxError(t);
    return t.value;
  }

  private parseRelation(): Chunk {
    const start = this.peek();
    const left = this.parseArith(0);
    const t = this.next();
    const relop = t.kind === 'op' ? RELOPS[t.text] : undefined;
    if (relop === undefined) throw this.syntaxError(t);
    const right = this.parseArith(0);
    this.lastQuals = undefined;
    return this.at(start, () => this.gen.relation(relop.op, left, right, relop.reversed));
  }

  private parseArith(level: number): Arith {
    if (level === ARITH_LEVELS.length) return this.parseOperand();
    let left = this.parseArith(level + 1);
    for (;;) {
      const t = this.peek();
      const aluOp = t.kind === 'op' ? ARITH_LEVELS[level]![t.text] : undefined;
      if (aluOp === undefined) return left;
      this.next();
      const right = this.parseArith(level + 1);
      const l = left;
      left = this.at(t, () => this.gen.arith(aluOp, l, right));
    }
  }

  /**
   * A unary operand. '^' has no precedence in libpcap's grammar, so yacc
   * always shifts it: `a ^ rest` takes the whole rest of the arithmetic.
   */
  private parseOperand(): Arith {
    return this.nested(() => this.parseOperandAt());
  }

  private parseOperandAt(): Arith {
    const t = this.peek();
    let value: Arith;
    if (this.isOp(t, '-')) {
      this.next();
      const operand = this.parseOperand();
      return this.gen.negate(operand);
    }
    if (this.isOp(t, '(')) {
      this.next();
      value = this.parseArith(0);
      this.expectOp(')');
    } else if (t.kind === 'num') {
      this.next();
      value = this.at(t, () => this.gen.loadImmediate(t.value));
    } else if (this.isKeyword(t, 'len')) {
      this.next();
      value = this.at(t, () => this.gen.loadLength());
    } else if (t.kind === 'keyword' && PNAMES[t.text] !== undefined && this.isOp(this.peek(1), '[')) {
      this.next();
      this.next();
      const index = this.parseArith(0);
      let bytes = 1;
      if (this.isOp(this.peek(), ':')) {
        this.next();
        const n = this.next();
        if (n.kind !== 'num') throw this.syntaxError(n);
        bytes = n.value;
      }
      this.expectOp(']');
      value = this.at(t, () => this.gen.load(PNAMES[t.text]!, index, bytes));
    } else {
      throw this.syntaxError(t);
    }
    const caret = this.peek();
    if (this.isOp(caret, '^')) {
      this.next();
      const rest = this.parseArith(0);
      return this.at(caret, () => this.gen.arith(Alu.XOR, value, rest));
    }
    return value;
  }
}

/** __pcap_atoin: a dotted address of 1 to 4 parts and the bits it gives (8 per part). */
function parseDotted(text: string): { value: number; bits: number } {
  const parts = text.split('.');
  let value = 0;
  for (const part of parts) {
    const n = Number(part);
    if (n > 255) throw new CodegenError(`invalid IPv4 address '${text}'`);
    value = ((value << 8) | n) >>> 0;
  }
  return { value, bits: parts.length * 8 };
}

/** A MAC address in any of the scanner's forms: 1:2:3:4:5:6, 01-02-..., 0102.0304.0506, 01.02.03.04.05.06. */
function macBytes(text: string): Uint8Array {
  if (/^[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}$/.test(text)) return parseMac(text.replace(/\./g, '').match(/../g)!.join(':'));
  return parseMac(text.replace(/\./g, ':'));
}
