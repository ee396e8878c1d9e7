/**
 * Label decoders with ebpf_exporter's semantics: a label's bytes go through
 * its decoders in order, each turning bytes (or the previous decoder's text)
 * into text; the last text is the label value. A decoder may ask to skip the
 * whole label set (regexp with no match). Lookups of the running system
 * (kallsyms, cgroups, partitions, interfaces, pci.ids) are read lazily and
 * cached, and re-read at most once a second when a value is missing, so a
 * new cgroup or interface shows up without a flood of file reads.
 */
import { readFileSync, readdirSync, statSync, statfsSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { formatIpv6 } from '../net/index.ts';
import { syscallName } from '../uapi/index.ts';
import type { DecoderConfig, LabelConfig } from './config.ts';
import { ExportError } from './errors.ts';

/** A key or event whose bytes a decoder cannot turn into a label. */
export class LabelDecodeError extends ExportError {
  override name = 'LabelDecodeError';
}

/** Returned by decodeLabels when a decoder (regexp) drops the label set. */
export const SKIP_LABEL_SET = Symbol('skip label set');

/** Where decoders look things up; tests point these at files they write. */
export interface DecoderEnvironment {
  kallsyms: string;
  cgroupRoot: string;
  /**
   * Count only directories on cgroup2 filesystems as cgroups (true on a real
   * system: with the hybrid layout /sys/fs/cgroup is a tmpfs holding v1
   * hierarchies, whose inode numbers would collide with cgroup2 ids).
   */
  cgroup2Only: boolean;
  partitions: string;
  netClass: string;
  pciIds: readonly string[];
  /** Node's process.arch naming the syscall table. */
  arch: string;
}

export const SYSTEM_ENVIRONMENT: DecoderEnvironment = {
  kallsyms: '/proc/kallsyms',
  cgroupRoot: '/sys/fs/cgroup',
  cgroup2Only: true,
  partitions: '/proc/partitions',
  netClass: '/sys/class/net',
  pciIds: ['/usr/share/misc/pci.ids', '/usr/share/hwdata/pci.ids'],
  arch: process.arch,
};

const RESCAN_INTERVAL_MS = 1000;
const utf8 = new TextDecoder();
const encoder = new TextEncoder();

type Input = Uint8Array | string;
const bytesOf = (input: Input): Uint8Array => (typeof input === 'string' ? encoder.encode(input) : input);
const textOf = (input: Input): string => (typeof input === 'string' ? input : utf8.decode(input));

function unsigned(bytes: Uint8Array): bigint {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (bytes.length) {
    case 1:
      return BigInt(bytes[0]!);
    case 2:
      return BigInt(view.getUint16(0, true));
    case 4:
      return BigInt(view.getUint32(0, true));
    case 8:
      return view.getBigUint64(0, true);
    default:
      throw new LabelDecodeError(`uint takes 1, 2, 4 or 8 bytes, got ${bytes.length}`);
  }
}

function integerText(input: Input, decoder: string): number {
  const text = textOf(input);
  if (!/^\d{1,15}$/.test(text)) throw new LabelDecodeError(`${decoder} needs a decimal number (put the uint decoder before it), got '${text.slice(0, 40)}'`);
  return Number(text);
}

/** A lookup table re-read when a key is missing, at most once per RESCAN_INTERVAL_MS. */
class RescanningTable<K, V> {
  #table: Map<K, V> | undefined;
  #readAt = 0;
  constructor(readonly read: () => Map<K, V>) {}
  get(key: K): V | undefined {
    const now = Date.now();
    if (this.#table === undefined || (!this.#table.has(key) && now - this.#readAt >= RESCAN_INTERVAL_MS)) {
      this.#readAt = now;
      try {
        this.#table = this.read();
      } catch {
        this.#table ??= new Map();
      }
    }
    return this.#table.get(key);
  }
}

/** /proc/kallsyms as sorted addresses, for address → symbol. */
class KernelSymbols {
  #addresses: BigUint64Array | undefined;
  #names: string[] = [];
  constructor(readonly path: string) {}

  #load(): void {
    let text = '';
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      // No kallsyms: every address is unknown.
    }
    const entries: Array<[bigint, string]> = [];
    for (const line of text.split('\n')) {
      const [address, , name] = line.split(/\s+/);
      if (address === undefined || name === undefined || !/^[0-9a-f]+$/i.test(address)) continue;
      const value = BigInt(`0x${address}`);
      if (value !== 0n) entries.push([value, name]);
    }
    entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.#addresses = BigUint64Array.from(entries, (e) => e[0]);
    this.#names = entries.map((e) => e[1]);
  }

  /** The symbol containing `address` (the last one at or below it), or undefined. */
  symbol(address: bigint): string | undefined {
    if (this.#addresses === undefined) this.#load();
    const addresses = this.#addresses!;
    let low = 0;
    let high = addresses.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      if (addresses[mid]! <= address) {
        found = mid;
        low = mid + 1;
      } else high = mid - 1;
    }
    return found < 0 ? undefined : this.#names[found];
  }
}

interface PciDatabase {
  vendors: Map<number, string>;
  devices: Map<number, string>;
  classes: Map<number, { name: string; subclasses: Map<number, string> }>;
}

/** pci.ids: vendor lines, tab-indented device lines, `C xx` class lines with tab-indented subclasses. */
export function parsePciIds(text: string): PciDatabase {
  const db: PciDatabase = { vendors: new Map(), devices: new Map(), classes: new Map() };
  let section: 'vendor' | 'class' | undefined;
  let currentClass: { name: string; subclasses: Map<number, string> } | undefined;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    let match: RegExpExecArray | null;
    if ((match = /^C ([0-9a-f]{2})\s+(.*)$/i.exec(line))) {
      section = 'class';
      currentClass = { name: match[2]!, subclasses: new Map() };
      db.classes.set(parseInt(match[1]!, 16), currentClass);
    } else if ((match = /^([0-9a-f]{4})\s+(.*)$/i.exec(line))) {
      section = 'vendor';
      db.vendors.set(parseInt(match[1]!, 16), match[2]!);
    } else if ((match = /^\t([0-9a-f]{2,4})\s+(.*)$/i.exec(line))) {
      const id = parseInt(match[1]!, 16);
      if (section === 'class' && currentClass) currentClass.subclasses.set(id, match[2]!);
      // The first vendor's name for a device id wins, as a lookup by device id alone must pick one.
      else if (section === 'vendor' && !db.devices.has(id)) db.devices.set(id, match[2]!);
    }
  }
  return db;
}

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, value]) => [value, name]));

/** Decodes map keys and ring-buffer records into label values. One per exporter (its caches are shared). */
export class DecoderSet {
  readonly #ksyms: KernelSymbols;
  readonly #cgroups: RescanningTable<bigint, string>;
  readonly #partitions: RescanningTable<string, string>;
  readonly #interfaces: RescanningTable<number, string>;
  #pci: PciDatabase | null | undefined;

  constructor(readonly environment: DecoderEnvironment = SYSTEM_ENVIRONMENT) {
    this.#ksyms = new KernelSymbols(environment.kallsyms);
    this.#cgroups = new RescanningTable(() => cgroupIds(environment.cgroupRoot, environment.cgroup2Only));
    this.#partitions = new RescanningTable(() => partitionNames(environment.partitions));
    this.#interfaces = new RescanningTable(() => interfaceNames(environment.netClass));
  }

  /**
   * The label values of `bytes` laid out as `labels` (sizes and padding must
   * add up to its length, unless `prefix`: then the labels cover its start,
   * as for ring-buffer records). SKIP_LABEL_SET when a decoder drops it.
   */
  decodeLabels(bytes: Uint8Array, labels: readonly LabelConfig[], prefix = false): string[] | typeof SKIP_LABEL_SET {
    let total = 0;
    for (const label of labels) total += label.size + label.padding;
    if (prefix ? bytes.length < total - (labels.at(-1)?.padding ?? 0) : bytes.length !== total) {
      throw new LabelDecodeError(`the labels (${labels.map((l) => `${l.name}: ${l.size}${l.padding ? `+${l.padding}` : ''}`).join(', ')}) cover ${total} bytes, the ${prefix ? 'record' : 'key'} has ${bytes.length}`);
    }
    const values: string[] = [];
    let offset = 0;
    for (const label of labels) {
      let value: Input = bytes.subarray(offset, offset + label.size);
      offset += label.size + label.padding;
      for (const decoder of label.decoders) {
        const decoded = this.decode(value, decoder);
        if (decoded === SKIP_LABEL_SET) return SKIP_LABEL_SET;
        value = decoded;
      }
      values.push(textOf(value));
    }
    return values;
  }

  decode(input: Input, decoder: DecoderConfig): string | typeof SKIP_LABEL_SET {
    switch (decoder.name) {
      case 'uint':
        return unsigned(bytesOf(input)).toString();
      case 'string': {
        const bytes = bytesOf(input);
        const end = bytes.indexOf(0);
        return utf8.decode(end < 0 ? bytes : bytes.subarray(0, end));
      }
      case 'hex':
        return Array.from(bytesOf(input), (b) => b.toString(16).padStart(2, '0')).join('');
      case 'inet_ip':
        return inetText(bytesOf(input));
      case 'ksym': {
        const address = unsigned(bytesOf(input));
        return this.#ksyms.symbol(address) ?? `unknown_addr:0x${address.toString(16)}`;
      }
      case 'kstack': {
        const bytes = bytesOf(input);
        const frames: string[] = [];
        for (let at = 0; at + 8 <= bytes.length; at += 8) {
          const address = unsigned(bytes.subarray(at, at + 8));
          if (address === 0n) break;
          frames.push(this.#ksyms.symbol(address) ?? '??');
        }
        return frames.join('\n');
      }
      case 'cgroup': {
        const id = BigInt(integerText(input, 'cgroup'));
        return this.#cgroups.get(id) ?? `unknown_cgroup_id:${id}`;
      }
      case 'majorminor': {
        const dev = Number(unsigned(bytesOf(input).subarray(0, 4)));
        // The kernel's new_encode_dev layout of a 32-bit dev_t.
        const major = (dev & 0xfff00) >>> 8;
        const minor = (dev & 0xff) | ((dev >>> 12) & 0xfff00);
        return this.#partitions.get(`${major}:${minor}`) ?? `unknown:${major}:${minor}`;
      }
      case 'ifname': {
        const index = Number(unsigned(bytesOf(input).subarray(0, 4)));
        return this.#interfaces.get(index) ?? `unknown:${index}`;
      }
      case 'syscall': {
        const number = integerText(input, 'syscall');
        return syscallName(number, this.environment.arch) ?? `unknown_syscall:${number}`;
      }
      case 'errno': {
        const number = integerText(input, 'errno');
        return ERRNO_NAMES.get(number) ?? `unknown:${number}`;
      }
      case 'dname':
        return dnsName(bytesOf(input));
      case 'static_map': {
        const text = textOf(input);
        const mapped = decoder.staticMap?.[text];
        if (mapped !== undefined) return mapped;
        return decoder.allowUnknown ? text : `unknown:${text}`;
      }
      case 'regexp': {
        const text = textOf(input);
        for (const pattern of decoder.regexps ?? []) {
          const match = pattern.exec(text);
          if (match) return match[1] ?? match[0];
        }
        return SKIP_LABEL_SET;
      }
      case 'pci_vendor':
      case 'pci_device':
      case 'pci_class':
      case 'pci_subclass':
        return this.#pciName(decoder.name, integerText(input, decoder.name));
    }
  }

  #pciName(kind: 'pci_vendor' | 'pci_device' | 'pci_class' | 'pci_subclass', id: number): string {
    if (this.#pci === undefined) {
      this.#pci = null;
      for (const path of this.environment.pciIds) {
        try {
          this.#pci = parsePciIds(readFileSync(path, 'utf8'));
          break;
        } catch {
          // Try the next location.
        }
      }
    }
    const db = this.#pci;
    if (db === null) return 'missing pci.ids db';
    const hex = (n: number, digits: number): string => n.toString(16).padStart(digits, '0');
    switch (kind) {
      case 'pci_vendor':
        return db.vendors.get(id) ?? `unknown pci vendor: 0x${hex(id, 4)}`;
      case 'pci_device':
        return db.devices.get(id) ?? `unknown pci device: 0x${hex(id, 4)}`;
      case 'pci_class':
        return db.classes.get(id)?.name ?? `unknown pci class: 0x${hex(id, 2)}`;
      case 'pci_subclass': {
        const cls = db.classes.get(id >> 8);
        if (!cls) return `unknown pci class: 0x${hex(id >> 8, 2)}`;
        return cls.subclasses.get(id & 0xff) ?? `unknown pci subclass: 0x${hex(id & 0xff, 2)} (class 0x${hex(id >> 8, 2)})`;
      }
    }
  }
}

function inetText(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) throw new LabelDecodeError(`inet_ip takes 4 or 16 bytes, got ${bytes.length}`);
  // IPv4-mapped addresses print as IPv4, as Go's net.IP does.
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return Array.from(bytes.subarray(12)).join('.');
  return formatIpv6(bytes);
}

/** DNS wire-format name (length-prefixed labels) to dotted text; malformed input comes back as is. */
function dnsName(bytes: Uint8Array): string {
  if (bytes.length === 0) return '.';
  const parts: string[] = [];
  for (let at = 0; at < bytes.length; ) {
    const length = bytes[at]!;
    at++;
    if (at + length > bytes.length) return utf8.decode(bytes);
    parts.push(utf8.decode(bytes.subarray(at, at + length)));
    at += length;
  }
  return parts.join('.');
}

const CGROUP2_SUPER_MAGIC = 0x63677270;
const CGROUP_SUPER_MAGIC = 0x27e0eb;

/**
 * cgroup v2 id (the directory's inode number) → path, for every cgroup under
 * `root` (also used to fill cgroup_id_map). With `cgroup2Only`, directories
 * of other filesystems are passed through but not recorded, and cgroup v1
 * hierarchies are not entered.
 */
export function cgroupIds(root: string, cgroup2Only: boolean): Map<bigint, string> {
  const ids = new Map<bigint, string>();
  const walk = (dir: string, depth: number): void => {
    let entries;
    try {
      const type = cgroup2Only ? statfsSync(dir).type : CGROUP2_SUPER_MAGIC;
      if (type === CGROUP_SUPER_MAGIC) return;
      if (type === CGROUP2_SUPER_MAGIC) ids.set(statSync(dir, { bigint: true }).ino, dir);
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (error) {
      if (depth === 0) throw error;
      return; // removed while walking
    }
    if (depth > 32) return;
    for (const entry of entries) if (entry.isDirectory()) walk(join(dir, entry.name), depth + 1);
  };
  walk(root, 0);
  return ids;
}

function partitionNames(path: string): Map<string, string> {
  const names = new Map<string, string>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length === 4 && /^\d+$/.test(fields[0]!)) names.set(`${fields[0]}:${fields[1]}`, fields[3]!);
  }
  return names;
}

function interfaceNames(netClass: string): Map<number, string> {
  const names = new Map<number, string>();
  for (const name of readdirSync(netClass)) {
    try {
      names.set(Number(readFileSync(join(netClass, name, 'ifindex'), 'utf8').trim()), name);
    } catch {
      // An interface that vanished while listing.
    }
  }
  return names;
}
