/**
 * xdp-guard's configuration file (YAML or JSON):
 *
 *   rate_limit:                 # every source address (IPv4, IPv6)
 *     packets_per_second: 1000
 *     burst: 2000
 *   syn:
 *     per_source_per_second: 20 # TCP SYNs of one source
 *     per_source_burst: 40
 *     global_per_second: 10000  # all SYNs, per CPU: beyond it only
 *     global_burst: 20000       #   sources that completed a handshake connect
 *   allow: [10.0.0.0/8, "2001:db8::/32"]   # always pass (wins over deny)
 *   deny: [192.0.2.0/24]                   # always dropped
 *
 * Every key is optional; a missing rate means no limit.
 */
import { parseIpv4, parseIpv6 } from '../../net/index.ts';
import { type ConfigNode, readConfigFile, parseConfigText } from '../usecase-support/index.ts';

/** A token bucket: `perSecond` tokens a second, at most `burst` stored; perSecond 0 = unlimited. */
export interface RateLimit {
  perSecond: number;
  burst: number;
}

export interface Prefix {
  family: 4 | 6;
  /** The network address (bits past the prefix length cleared). */
  address: Uint8Array;
  length: number;
  /** As written in the file, normalised (`10.0.0.0/8`). */
  text: string;
}

export interface GuardConfig {
  source: RateLimit;
  sourceSyn: RateLimit;
  globalSyn: RateLimit;
  allow: Prefix[];
  deny: Prefix[];
}

const UNLIMITED: RateLimit = { perSecond: 0, burst: 0 };
/** Rates and bursts fit the program's u64 arithmetic (burst × 1e9 and rate × fill time) with room to spare. */
const MAX_RATE = 1e9;
const MAX_BURST = 1e9;

function rate(rateNode: ConfigNode | undefined, burstNode: ConfigNode | undefined, where: ConfigNode): RateLimit {
  if (rateNode === undefined && burstNode === undefined) return UNLIMITED;
  if (rateNode === undefined) throw where.error(`'${burstNode!.keyPath}' needs a rate beside it`);
  const perSecond = rateNode.number({ min: 1, max: MAX_RATE, integer: true });
  const burst = burstNode === undefined ? perSecond : burstNode.number({ min: 1, max: MAX_BURST, integer: true });
  return { perSecond, burst };
}

/** Parses `a.b.c.d[/len]` or an IPv6 address with an optional `/len`. */
export function parsePrefix(text: string): Prefix | string {
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const family = addressText.includes(':') ? 6 : 4;
  const bits = family === 4 ? 32 : 128;
  let address: Uint8Array;
  try {
    address = family === 4 ? parseIpv4(addressText) : parseIpv6(addressText);
  } catch {
    return `'${addressText}' is not an IPv${family} address`;
  }
  const lengthText = slash < 0 ? String(bits) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lengthText) || Number(lengthText) > bits) return `'/${lengthText}' is not a prefix length for IPv${family} (0-${bits})`;
  const length = Number(lengthText);
  for (let bit = length; bit < bits; bit++) address[bit >> 3]! &= ~(0x80 >> (bit & 7));
  const normal = family === 4 ? [...address].join('.') : addressText.toLowerCase();
  return { family, address, length, text: `${normal}/${length}` };
}

function prefixes(node: ConfigNode | undefined): Prefix[] {
  if (node === undefined || node.isNull) return [];
  return node.listOrOne().map((item) => {
    const prefix = parsePrefix(item.string());
    if (typeof prefix === 'string') throw item.error(prefix);
    return prefix;
  });
}

/** The configuration in the root node of a parsed file. */
export function guardConfigFrom(root: ConfigNode): GuardConfig {
  if (root.isNull) return { source: UNLIMITED, sourceSyn: UNLIMITED, globalSyn: UNLIMITED, allow: [], deny: [] };
  const top = root.object(['rate_limit', 'syn', 'allow', 'deny']);
  const limit = top.get('rate_limit');
  const limitKeys = limit?.object(['packets_per_second', 'burst']);
  const syn = top.get('syn');
  const synKeys = syn?.object(['per_source_per_second', 'per_source_burst', 'global_per_second', 'global_burst']);
  return {
    source: limit ? rate(limitKeys!.get('packets_per_second'), limitKeys!.get('burst'), limit) : UNLIMITED,
    sourceSyn: syn ? rate(synKeys!.get('per_source_per_second'), synKeys!.get('per_source_burst'), syn) : UNLIMITED,
    globalSyn: syn ? rate(synKeys!.get('global_per_second'), synKeys!.get('global_burst'), syn) : UNLIMITED,
    allow: prefixes(top.get('allow')),
    deny: prefixes(top.get('deny')),
  };
}

/** Reads configuration file `path`; a ConfigFileError names file:line and key on any problem. */
export function loadGuardConfig(path: string): GuardConfig {
  return guardConfigFrom(readConfigFile(path));
}

/** Parses configuration text (YAML or JSON); `file` names it in errors. */
export function parseGuardConfig(text: string, file = '<config>'): GuardConfig {
  return guardConfigFrom(parseConfigText(text, file));
}
