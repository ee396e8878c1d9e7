/**
 * The load balancer's configuration file (YAML or JSON):
 *
 *   table_size: 65537            # Maglev table slots, a prime (default 65537)
 *   vips:                        # services: ADDRESS:PORT/tcp|udp
 *     - 10.200.0.100:8080/udp
 *   backends:
 *     - name: web-1              # stable name: it decides the backend's slots
 *       address: 10.201.1.2      # outer destination of the IP-in-IP packet
 *       interface: b1            # where to send it (default: back out, XDP_TX)
 *       mac: 02:00:00:00:01:02   # next hop (default: the kernel's ARP entry)
 *       local_address: 10.201.1.1 # outer source (default: the interface's)
 */
import { parseIpv4, parseMac } from '../../net/index.ts';
import { type ConfigNode, parseConfigText, readConfigFile } from '../usecase-support/index.ts';
import { DEFAULT_TABLE_SIZE, isPrime, MAX_TABLE_SIZE } from './maglev.ts';

export interface Vip {
  address: string;
  port: number;
  protocol: 'tcp' | 'udp';
}

export interface BackendConfig {
  name: string;
  address: string;
  interface?: string;
  mac?: string;
  localAddress?: string;
  /** Line in the file, for errors found when resolving it. */
  line: number;
}

export interface LbConfig {
  tableSize: number;
  vips: Vip[];
  backends: BackendConfig[];
}

/** The program's backends map holds this many. */
export const MAX_BACKENDS = 256;
export const MAX_VIPS = 64;

function ipv4(node: ConfigNode): string {
  const text = node.string();
  try {
    return [...parseIpv4(text)].join('.');
  } catch {
    throw node.error(`'${text}' is not an IPv4 address`);
  }
}

function vip(node: ConfigNode): Vip {
  const text = node.string();
  const match = /^([\d.]+):(\d{1,5})\/(tcp|udp)$/.exec(text);
  if (!match) throw node.error(`'${text}' is not ADDRESS:PORT/tcp or ADDRESS:PORT/udp`);
  try {
    parseIpv4(match[1]!);
  } catch {
    throw node.error(`'${match[1]}' is not an IPv4 address`);
  }
  const port = Number(match[2]);
  if (port < 1 || port > 65535) throw node.error(`port ${port} is out of range (1-65535)`);
  return { address: match[1]!, port, protocol: match[3] as 'tcp' | 'udp' };
}

function backend(node: ConfigNode): BackendConfig {
  const keys = node.object(['name', 'address', 'interface', 'mac', 'local_address'], ['name', 'address']);
  const result: BackendConfig = { name: keys.get('name')!.string(), address: ipv4(keys.get('address')!), line: node.line };
  const iface = keys.get('interface');
  if (iface) result.interface = iface.string();
  const mac = keys.get('mac');
  if (mac) {
    const text = mac.string();
    try {
      parseMac(text);
    } catch {
      throw mac.error(`'${text}' is not a MAC address (aa:bb:cc:dd:ee:ff)`);
    }
    result.mac = text.toLowerCase();
  }
  const local = keys.get('local_address');
  if (local) result.localAddress = ipv4(local);
  return result;
}

export function lbConfigFrom(root: ConfigNode): LbConfig {
  const top = root.object(['table_size', 'vips', 'backends'], ['vips', 'backends']);
  const sizeNode = top.get('table_size');
  const tableSize = sizeNode ? sizeNode.number({ min: 2, max: MAX_TABLE_SIZE, integer: true }) : DEFAULT_TABLE_SIZE;
  if (!isPrime(tableSize)) throw sizeNode!.error(`${tableSize} is not a prime (Maglev needs a prime table size, e.g. 65537)`);
  const vipNodes = top.get('vips')!.list();
  if (vipNodes.length === 0 || vipNodes.length > MAX_VIPS) throw top.get('vips')!.error(`give 1 to ${MAX_VIPS} VIPs`);
  const vips = vipNodes.map(vip);
  const backendNodes = top.get('backends')!.list();
  if (backendNodes.length > MAX_BACKENDS) throw top.get('backends')!.error(`at most ${MAX_BACKENDS} backends`);
  const backends = backendNodes.map(backend);
  const seen = new Map<string, number>();
  backendNodes.forEach((node, index) => {
    const name = backends[index]!.name;
    if (seen.has(name)) throw node.error(`backend name '${name}' is already used on line ${seen.get(name)}`);
    seen.set(name, node.line);
  });
  if (backends.length >= tableSize) throw top.get('backends')!.error(`${backends.length} backends need a table larger than ${tableSize} slots`);
  return { tableSize, vips, backends };
}

export function loadLbConfig(path: string): LbConfig {
  return lbConfigFrom(readConfigFile(path));
}

export function parseLbConfig(text: string, file = '<config>'): LbConfig {
  return lbConfigFrom(parseConfigText(text, file));
}
