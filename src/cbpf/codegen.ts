/**
 * Code generation for pcap-filter primitives, following libpcap's
 * gencode.c for DLT_EN10MB and DLT_RAW: the same blocks in the same order,
 * so that after optimisation the listing can be compared with
 * `tcpdump -d`. Offsets shift as libpcap's do: `vlan` moves the link type
 * and payload 4 bytes on, `mpls` the network header, for every primitive
 * parsed after it.
 */
import { and, BlockFactory, CodegenError, not, or, type Chunk } from './blocks.ts';
import { Alu, Class, Jmp, MEMWORDS, Misc, Mode, Size, Src, stmt, type CbpfInstruction } from './opcodes.ts';

export const DLT_EN10MB = 1;
export const DLT_RAW = 101;

export const ETHERTYPE_IP = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_REVARP = 0x8035;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERTYPE_8021Q = 0x8100;
export const ETHERTYPE_8021AD = 0x88a8;
export const ETHERTYPE_8021QINQ = 0x9100;
export const ETHERTYPE_MPLS = 0x8847;
const ETHERMTU = 1500;
const IPPROTO_FRAGMENT = 44;

export const IPPROTO = { ICMP: 1, IGMP: 2, TCP: 6, IGRP: 9, UDP: 17, ESP: 50, AH: 51, ICMPV6: 58, PIM: 103, VRRP: 112, SCTP: 132 } as const;

/** Protocol qualifiers (libpcap's Q_*). 'default' is no qualifier. */
export type ProtoQual = 'default' | 'link' | 'ip' | 'ip6' | 'arp' | 'rarp' | 'tcp' | 'udp' | 'sctp' | 'icmp' | 'icmp6' | 'igmp' | 'igrp' | 'pim' | 'vrrp' | 'carp' | 'ah' | 'esp';
export type DirQual = 'default' | 'src' | 'dst' | 'or' | 'and';

/** Where a load's offset is relative to (libpcap's enum e_offrel). */
type OffsetRel = 'packet' | 'linkhdr' | 'linkpl' | 'linktype' | 'tranIpv4' | 'tranIpv6' | 'prevMplsHdr';

/** An arithmetic value: statements that leave it in scratch register `regno`, and the protocol checks it needs. */
export interface Arith {
  stmts: CbpfInstruction[];
  regno: number;
  check?: Chunk;
}

export { CodegenError };

export interface CodegenOptions {
  linkType: number;
  /** The netmask `ip broadcast` uses (tcpdump passes 0 when reading a file). */
  netmask: number;
}

export class Codegen {
  readonly blocks = new BlockFactory();
  private readonly linkType: number;
  private readonly netmask: number;
  private offLinktype: number;
  private offLinkpl: number;
  private offNl = 0;
  private labelStackDepth = 0;
  private readonly regUsed = new Array<boolean>(MEMWORDS).fill(false);
  private curReg = 0;

  constructor(options: CodegenOptions) {
    this.linkType = options.linkType;
    this.netmask = options.netmask;
    if (this.linkType === DLT_EN10MB) {
      this.offLinktype = 12;
      this.offLinkpl = 14;
    } else if (this.linkType === DLT_RAW) {
      this.offLinktype = -1;
      this.offLinkpl = 0;
    } else {
      throw new CodegenError(`link type ${options.linkType} is not supported (EN10MB and RAW are)`);
    }
  }

  private get ethernet(): boolean {
    return this.linkType === DLT_EN10MB;
  }

  private linkName(): string {
    return this.ethernet ? 'Ethernet' : 'Raw IP';
  }

  // Loads and comparisons.

  private loadA(rel: OffsetRel, offset: number, size: number): CbpfInstruction[] {
    const abs = (k: number): CbpfInstruction[] => [stmt(Class.LD | Mode.ABS | size, k)];
    switch (rel) {
      case 'packet':
      case 'linkhdr':
        return abs(offset);
      case 'linkpl':
        return abs(this.offLinkpl + this.offNl + offset);
      case 'prevMplsHdr':
        return abs(this.offLinkpl + this.offNl - 4 + offset);
      case 'linktype':
        return abs(this.offLinktype + offset);
      case 'tranIpv4':
        return [this.loadxIpHeaderLength(), stmt(Class.LD | Mode.IND | size, this.offLinkpl + this.offNl + offset)];
      case 'tranIpv6':
        return abs(this.offLinkpl + this.offNl + 40 + offset);
    }
  }

  private loadxIpHeaderLength(): CbpfInstruction {
    return stmt(Class.LDX | Mode.MSH | Size.B, this.offLinkpl + this.offNl);
  }

  private ncmp(rel: OffsetRel, offset: number, size: number, mask: number, jumpOp: number, reverse: boolean, value: number): Chunk {
    const stmts = this.loadA(rel, offset, size);
    if (mask >>> 0 !== 0xffffffff) stmts.push(stmt(Class.ALU | Alu.AND | Src.K, mask));
    const b = this.blocks.test(stmts, jumpOp, value);
    return reverse && (jumpOp === Jmp.JGT || jumpOp === Jmp.JGE) ? not(b) : b;
  }

  private cmp(rel: OffsetRel, offset: number, size: number, value: number): Chunk {
    return this.ncmp(rel, offset, size, 0xffffffff, Jmp.JEQ, false, value);
  }

  private mcmp(rel: OffsetRel, offset: number, size: number, value: number, mask: number): Chunk {
    return this.ncmp(rel, offset, size, mask, Jmp.JEQ, false, value);
  }

  /** Compares bytes, last word first, as gen_bcmp. */
  private bcmp(rel: OffsetRel, offset: number, bytes: Uint8Array): Chunk {
    let result: Chunk | undefined;
    let remaining = bytes.length;
    const add = (c: Chunk): void => {
      result = result === undefined ? c : and(result, c);
    };
    while (remaining >= 4) {
      const at = remaining - 4;
      add(this.cmp(rel, offset + at, Size.W, ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0));
      remaining -= 4;
    }
    while (remaining >= 2) {
      const at = remaining - 2;
      add(this.cmp(rel, offset + at, Size.H, (bytes[at]! << 8) | bytes[at + 1]!));
      remaining -= 2;
    }
    if (remaining > 0) add(this.cmp(rel, offset, Size.B, bytes[0]!));
    return result!;
  }

  // Link types.

  linktype(proto: number): Chunk {
    if (this.labelStackDepth > 0) {
      if (proto === ETHERTYPE_IP) return this.mplsLinktype(0x40);
      if (proto === ETHERTYPE_IPV6) return this.mplsLinktype(0x60);
      throw new CodegenError('unsupported protocol over mpls');
    }
    if (!this.ethernet) {
      if (proto === ETHERTYPE_IP) return this.mcmp('linkhdr', 0, Size.B, 0x40, 0xf0);
      if (proto === ETHERTYPE_IPV6) return this.mcmp('linkhdr', 0, Size.B, 0x60, 0xf0);
      return this.blocks.constant(false);
    }
    if (proto <= ETHERMTU) {
      // An 802.3 length field, then an LLC SAP.
      const isLength = not(this.ncmp('linktype', 0, Size.H, 0xffffffff, Jmp.JGT, false, ETHERMTU));
      return and(isLength, this.cmp('linktype', 2, Size.B, proto));
    }
    return this.cmp('linktype', 0, Size.H, proto);
  }

  private mplsLinktype(version: number): Chunk {
    const bottomOfStack = this.mcmp('linkpl', -2, Size.B, 0x01, 0x01);
    return and(bottomOfStack, this.mcmp('linkpl', 0, Size.B, version, 0xf0));
  }

  // Protocols.

  proto(value: number, proto: ProtoQual, dirGiven: boolean): Chunk {
    if (dirGiven) throw new CodegenError("direction applied to 'proto'");
    switch (proto) {
      case 'default':
        return or(this.proto(value, 'ip', false), this.proto(value, 'ip6', false));
      case 'link':
        return this.linktype(value);
      case 'ip':
        return and(this.linktype(ETHERTYPE_IP), this.cmp('linkpl', 9, Size.B, value));
      case 'ip6': {
        const ip6 = this.linktype(ETHERTYPE_IPV6);
        const afterFragment = and(this.cmp('linkpl', 6, Size.B, IPPROTO_FRAGMENT), this.cmp('linkpl', 40, Size.B, value));
        return and(ip6, or(this.cmp('linkpl', 6, Size.B, value), afterFragment));
      }
      case 'arp':
      case 'rarp':
        throw new CodegenError(`${proto} does not encapsulate another protocol`);
      default:
        throw new CodegenError(`'${proto} proto' is bogus`);
    }
  }

  /** A protocol keyword on its own: `tcp`, `ip6`, `arp`... */
  protoAbbrev(proto: ProtoQual): Chunk {
    switch (proto) {
      case 'sctp':
        return this.proto(IPPROTO.SCTP, 'default', false);
      case 'tcp':
        return this.proto(IPPROTO.TCP, 'default', false);
      case 'udp':
        return this.proto(IPPROTO.UDP, 'default', false);
      case 'icmp':
        return this.proto(IPPROTO.ICMP, 'ip', false);
      case 'igmp':
        return this.proto(IPPROTO.IGMP, 'ip', false);
      case 'igrp':
        return this.proto(IPPROTO.IGRP, 'ip', false);
      case 'pim':
        return this.proto(IPPROTO.PIM, 'default', false);
      case 'vrrp':
      case 'carp':
        return this.proto(IPPROTO.VRRP, 'ip', false);
      case 'ip':
        return this.linktype(ETHERTYPE_IP);
      case 'arp':
        return this.linktype(ETHERTYPE_ARP);
      case 'rarp':
        return this.linktype(ETHERTYPE_REVARP);
      case 'ip6':
        return this.linktype(ETHERTYPE_IPV6);
      case 'icmp6':
        return this.proto(IPPROTO.ICMPV6, 'ip6', false);
      case 'ah':
        return this.proto(IPPROTO.AH, 'default', false);
      case 'esp':
        return this.proto(IPPROTO.ESP, 'default', false);
      case 'link':
        throw new CodegenError('link layer applied in wrong context');
      case 'default':
        throw new CodegenError('syntax error');
    }
  }

  // Hosts and networks.

  private hostop(addr: number, mask: number, dir: DirQual, etherType: number, srcOff: number, dstOff: number): Chunk {
    if (dir === 'and' || dir === 'or' || dir === 'default') {
      const s = this.hostop(addr, mask, 'src', etherType, srcOff, dstOff);
      const d = this.hostop(addr, mask, 'dst', etherType, srcOff, dstOff);
      return dir === 'and' ? and(s, d) : or(s, d);
    }
    const link = this.linktype(etherType);
    return and(link, this.mcmp('linkpl', dir === 'src' ? srcOff : dstOff, Size.W, addr, mask));
  }

  host(addr: number, mask: number, proto: ProtoQual, dir: DirQual, what: 'host' | 'net'): Chunk {
    switch (proto) {
      case 'default': {
        const ip = this.host(addr, mask, 'ip', dir, what);
        if (this.labelStackDepth > 0) return ip;
        const arp = or(ip, this.host(addr, mask, 'arp', dir, what));
        return or(arp, this.host(addr, mask, 'rarp', dir, what));
      }
      case 'ip':
        return this.hostop(addr, mask, dir, ETHERTYPE_IP, 12, 16);
      case 'arp':
        return this.hostop(addr, mask, dir, ETHERTYPE_ARP, 14, 24);
      case 'rarp':
        return this.hostop(addr, mask, dir, ETHERTYPE_REVARP, 14, 24);
      case 'link':
        throw new CodegenError('link-layer modifier applied to ' + what);
      case 'ip6':
        throw new CodegenError(`'ip6' modifier applied to ip ${what}`);
      default:
        throw new CodegenError(`'${proto}' modifier applied to ${what}`);
    }
  }

  host6(addr: Uint8Array, mask: Uint8Array, proto: ProtoQual, dir: DirQual, what: 'host' | 'net'): Chunk {
    if (proto !== 'default' && proto !== 'ip6') throw new CodegenError(`'${proto === 'link' ? 'link' : proto}' modifier applied to ip6 ${what}`);
    return this.hostop6(addr, mask, dir);
  }

  private hostop6(addr: Uint8Array, mask: Uint8Array, dir: DirQual): Chunk {
    if (dir === 'and' || dir === 'or' || dir === 'default') {
      const s = this.hostop6(addr, mask, 'src');
      const d = this.hostop6(addr, mask, 'dst');
      return dir === 'and' ? and(s, d) : or(s, d);
    }
    const offset = dir === 'src' ? 8 : 24;
    const word = (b: Uint8Array, i: number): number => ((b[i * 4]! << 24) | (b[i * 4 + 1]! << 16) | (b[i * 4 + 2]! << 8) | b[i * 4 + 3]!) >>> 0;
    let result = this.mcmp('linkpl', offset + 12, Size.W, word(addr, 3), word(mask, 3));
    for (const i of [2, 1, 0]) result = and(this.mcmp('linkpl', offset + i * 4, Size.W, word(addr, i), word(mask, i)), result);
    return and(this.linktype(ETHERTYPE_IPV6), result);
  }

  etherHost(mac: Uint8Array, dir: DirQual): Chunk {
    if (!this.ethernet) throw new CodegenError('ethernet addresses supported only on ethernet/FDDI/token ring/802.11/ATM LANE/Fibre Channel');
    return this.etherHostop(mac, dir);
  }

  private etherHostop(mac: Uint8Array, dir: DirQual): Chunk {
    if (dir === 'src') return this.bcmp('linkhdr', 6, mac);
    if (dir === 'dst') return this.bcmp('linkhdr', 0, mac);
    const s = this.etherHostop(mac, 'src');
    const d = this.etherHostop(mac, 'dst');
    return dir === 'and' ? and(s, d) : or(s, d);
  }

  // Ports.

  private ipFragmentOffsetZero(): Chunk {
    return not(this.blocks.test(this.loadA('linkpl', 6, Size.H), Jmp.JSET, 0x1fff));
  }

  private portAtoms(dir: DirQual, atom: (offset: number) => Chunk): Chunk {
    if (dir === 'src') return atom(0);
    if (dir === 'dst') return atom(2);
    const s = atom(0);
    const d = atom(2);
    return dir === 'and' ? and(s, d) : or(s, d);
  }

  private portRangeAtom(rel: OffsetRel, offset: number, low: number, high: number): Chunk {
    const [a, b] = low > high ? [high, low] : [low, high];
    return and(this.ncmp(rel, offset, Size.H, 0xffffffff, Jmp.JGE, false, a), this.ncmp(rel, offset, Size.H, 0xffffffff, Jmp.JGT, true, b));
  }

  /** `port`/`portrange` over IPv4 and IPv6 for the transport `ipProto` (undefined: sctp, tcp and udp). */
  ports(low: number, high: number | undefined, ipProto: number | undefined, dir: DirQual): Chunk {
    const v4Atom = (offset: number): Chunk => (high === undefined ? this.cmp('tranIpv4', offset, Size.H, low) : this.portRangeAtom('tranIpv4', offset, low, high));
    const v6Atom = (offset: number): Chunk => (high === undefined ? this.cmp('tranIpv6', offset, Size.H, low) : this.portRangeAtom('tranIpv6', offset, low, high));
    const v4op = (proto: number): Chunk => {
      const notFragment = and(this.cmp('linkpl', 9, Size.B, proto), this.ipFragmentOffsetZero());
      return and(notFragment, this.portAtoms(dir, v4Atom));
    };
    const v6op = (proto: number): Chunk => and(this.cmp('linkpl', 6, Size.B, proto), this.portAtoms(dir, v6Atom));
    const overProtocols = (build: (proto: number) => Chunk): Chunk => {
      if (ipProto !== undefined) return build(ipProto);
      const tcpOrUdp = or(build(IPPROTO.TCP), build(IPPROTO.UDP));
      return or(build(IPPROTO.SCTP), tcpOrUdp);
    };
    const v4 = and(this.linktype(ETHERTYPE_IP), overProtocols(v4op));
    const v6 = and(this.linktype(ETHERTYPE_IPV6), overProtocols(v6op));
    return or(v6, v4);
  }

  // Link-level and length primitives.

  broadcast(proto: ProtoQual): Chunk {
    if (proto === 'default' || proto === 'link') {
      if (!this.ethernet) throw new CodegenError('not a broadcast link');
      return this.etherHostop(new Uint8Array(6).fill(0xff), 'dst');
    }
    if (proto === 'ip') {
      const hostmask = ~this.netmask >>> 0;
      const zeros = this.mcmp('linkpl', 16, Size.W, 0, hostmask);
      const ones = this.mcmp('linkpl', 16, Size.W, hostmask, hostmask);
      return and(this.linktype(ETHERTYPE_IP), or(zeros, ones));
    }
    throw new CodegenError('only link-layer/IP broadcast filters supported');
  }

  multicast(proto: ProtoQual): Chunk {
    if (proto === 'default' || proto === 'link') {
      if (!this.ethernet) throw new CodegenError('link-layer multicast filters supported only on ethernet/FDDI/token ring/ARCNET/802.11/ATM LANE/Fibre Channel');
      return this.blocks.test(this.loadA('linkhdr', 0, Size.B), Jmp.JSET, 1);
    }
    if (proto === 'ip') return and(this.linktype(ETHERTYPE_IP), this.ncmp('linkpl', 16, Size.B, 0xffffffff, Jmp.JGE, false, 224));
    if (proto === 'ip6') return and(this.linktype(ETHERTYPE_IPV6), this.cmp('linkpl', 24, Size.B, 255));
    throw new CodegenError('only IP multicast filters supported on ethernet/FDDI/token ring/ARCNET/802.11/ATM LANE/Fibre Channel');
  }

  /** `greater N` (jge) and `less N` (not jgt). */
  length(jumpOp: number, value: number, negate: boolean): Chunk {
    const b = this.blocks.test([stmt(Class.LD | Size.W | Mode.LEN)], jumpOp, value);
    return negate ? not(b) : b;
  }

  vlan(id: number | undefined): Chunk {
    if (this.labelStackDepth > 0) throw new CodegenError('no VLAN match after MPLS');
    if (!this.ethernet) throw new CodegenError(`no VLAN support for ${this.linkName()}`);
    if (id !== undefined && id > 0x0fff) throw new CodegenError(`VLAN tag ${id} greater than maximum 4095`);
    const tpid = or(or(this.linktype(ETHERTYPE_8021Q), this.linktype(ETHERTYPE_8021AD)), this.linktype(ETHERTYPE_8021QINQ));
    const result = id === undefined ? tpid : and(tpid, this.mcmp('linkpl', 0, Size.H, id, 0x0fff));
    this.offLinkpl += 4;
    this.offLinktype += 4;
    return result;
  }

  mpls(label: number | undefined): Chunk {
    let result: Chunk;
    if (this.labelStackDepth > 0) result = this.mcmp('prevMplsHdr', 2, Size.B, 0, 0x01);
    else if (this.ethernet) result = this.linktype(ETHERTYPE_MPLS);
    else throw new CodegenError(`no MPLS support for ${this.linkName()}`);
    if (label !== undefined) {
      if (label > 0xfffff) throw new CodegenError(`MPLS label ${label} greater than maximum 1048575`);
      result = and(result, this.mcmp('linkpl', 0, Size.W, (label << 12) >>> 0, 0xfffff000));
    }
    this.offNl += 4;
    this.labelStackDepth++;
    return result;
  }

  // Arithmetic (scratch registers allocated round robin, as libpcap's alloc_reg).

  private allocReg(): number {
    for (let n = 0; n < MEMWORDS; n++) {
      if (!this.regUsed[this.curReg]) {
        this.regUsed[this.curReg] = true;
        return this.curReg;
      }
      this.curReg = (this.curReg + 1) % MEMWORDS;
    }
    throw new CodegenError('too many registers needed to evaluate expression');
  }

  private freeReg(n: number): void {
    this.regUsed[n] = false;
  }

  loadImmediate(value: number): Arith {
    const regno = this.allocReg();
    return { stmts: [stmt(Class.LD | Mode.IMM, value), stmt(Class.ST, regno)], regno };
  }

  loadLength(): Arith {
    const regno = this.allocReg();
    return { stmts: [stmt(Class.LD | Size.W | Mode.LEN), stmt(Class.ST, regno)], regno };
  }

  /** `proto[index : bytes]`. */
  load(proto: ProtoQual, index: Arith, bytes: number): Arith {
    const regno = this.allocReg();
    this.freeReg(index.regno);
    const size = bytes === 1 ? Size.B : bytes === 2 ? Size.H : bytes === 4 ? Size.W : undefined;
    if (size === undefined) throw new CodegenError('data size must be 1, 2, or 4');
    const xferX = stmt(Class.LDX | Mode.MEM, index.regno);
    let check = index.check;
    const andCheck = (c: Chunk): void => {
      check = check === undefined ? c : and(check, c);
    };
    switch (proto) {
      case 'link':
        index.stmts.push(xferX, stmt(Class.LD | Mode.IND | size, 0));
        break;
      case 'ip':
      case 'arp':
      case 'rarp':
      case 'ip6':
        index.stmts.push(xferX, stmt(Class.LD | Mode.IND | size, this.offLinkpl + this.offNl));
        andCheck(this.protoAbbrev(proto));
        break;
      case 'sctp':
      case 'tcp':
      case 'udp':
      case 'icmp':
      case 'igmp':
      case 'igrp':
      case 'pim':
      case 'vrrp':
      case 'carp': {
        index.stmts.push(this.loadxIpHeaderLength(), stmt(Class.LD | Mode.MEM, index.regno), stmt(Class.ALU | Alu.ADD | Src.X), stmt(Class.MISC | Misc.TAX), stmt(Class.LD | Mode.IND | size, this.offLinkpl + this.offNl));
        const notFragment = and(this.protoAbbrev(proto), this.ipFragmentOffsetZero());
        const combined = check === undefined ? notFragment : and(check, notFragment);
        check = and(this.protoAbbrev('ip'), combined);
        break;
      }
      case 'icmp6': {
        andCheck(this.protoAbbrev('ip6'));
        andCheck(this.cmp('linkpl', 6, Size.B, IPPROTO.ICMPV6));
        index.stmts.push(xferX, stmt(Class.LD | Mode.IND | size, this.offLinkpl + this.offNl + 40));
        break;
      }
      default:
        throw new CodegenError('unsupported index operation');
    }
    index.stmts.push(stmt(Class.ST, regno));
    return { stmts: index.stmts, regno, check };
  }

  arith(aluOp: number, a0: Arith, a1: Arith): Arith {
    const first = a1.stmts[0];
    const constant = first !== undefined && first.code === (Class.LD | Mode.IMM) && a1.stmts.length === 2 ? first.k : undefined;
    if (aluOp === Alu.DIV && constant === 0) throw new CodegenError('division by zero');
    if (aluOp === Alu.MOD && constant === 0) throw new CodegenError('modulus by zero');
    if ((aluOp === Alu.LSH || aluOp === Alu.RSH) && constant !== undefined && constant > 31) throw new CodegenError('shift by more than 31 bits');
    const stmts = [...a0.stmts, ...a1.stmts, stmt(Class.LDX | Mode.MEM, a1.regno), stmt(Class.LD | Mode.MEM, a0.regno), stmt(Class.ALU | aluOp | Src.X)];
    this.freeReg(a0.regno);
    this.freeReg(a1.regno);
    const regno = this.allocReg();
    stmts.push(stmt(Class.ST, regno));
    // libpcap's gen_arth keeps only the left operand's protocol checks (`ip[2:2] + tcp[0]` does not test for TCP): so do we.
    return { stmts, regno, check: a0.check };
  }

  negate(a: Arith): Arith {
    a.stmts.push(stmt(Class.LD | Mode.MEM, a.regno), stmt(Class.ALU | Alu.NEG), stmt(Class.ST, a.regno));
    return a;
  }

  relation(jumpOp: number, a0: Arith, a1: Arith, reversed: boolean): Chunk {
    const stmts = [...a0.stmts, ...a1.stmts, stmt(Class.LDX | Mode.MEM, a1.regno), stmt(Class.LD | Mode.MEM, a0.regno)];
    let b: Chunk;
    if (jumpOp === Jmp.JEQ) {
      stmts.push(stmt(Class.ALU | Alu.SUB | Src.X));
      b = this.blocks.test(stmts, Jmp.JEQ, 0);
    } else {
      b = this.blocks.test(stmts, jumpOp, 0, Src.X);
    }
    if (reversed) b = not(b);
    this.freeReg(a0.regno);
    this.freeReg(a1.regno);
    const check = combineChecks(a0.check, a1.check);
    return check === undefined ? b : and(check, b);
  }
}

function combineChecks(a: Chunk | undefined, b: Chunk | undefined): Chunk | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return and(a, b);
}
