/**
 * Drives examples/lb/xdp_lb.c's maps on either backend: VIPs, backends and
 * the Maglev table. Changing the backends rebuilds the table and writes
 * only the slots that changed; a removed backend is marked inactive after
 * the table no longer names it, so flows remembered on it are re-hashed
 * while every other flow keeps its backend.
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { BpfCollection } from '../../backend/index.ts';
import type { CollectionSpec } from '../../object/index.ts';
import { writeSpecVariable } from '../../backend/index.ts';
import { parseIpv4, parseMac } from '../../net/index.ts';
import { ConfigFileError } from '../usecase-support/index.ts';
import { resolveInterface } from '../../kernel/index.ts';
import { type BackendConfig, type LbConfig, MAX_BACKENDS, type Vip } from './config.ts';
import { buildMaglevTable, changedSlots, MaglevError } from './maglev.ts';

/** The program's counters, in the order of its enum counter. */
export const LB_COUNTER_NAMES = ['forwarded', 'not_vip', 'no_backend', 'malformed', 'new_flows'] as const;
export type LbCounterName = (typeof LB_COUNTER_NAMES)[number];

/** A backend with everything the program needs to reach it. */
export interface Backend {
  name: string;
  address: string;
  localAddress: string;
  /** Interface to redirect to; 0 sends the packet back out of the LB's interface (XDP_TX). */
  ifindex: number;
  mac: string;
  localMac: string;
}

export const LB_SOURCE = 'lb/xdp_lb.c';

/** Sets the table size of a spec before loading (the program's `table_size` and the map's size). */
export function sizeLbSpec(spec: CollectionSpec, tableSize: number): void {
  writeSpecVariable(spec, 'table_size', tableSize);
  spec.maps.maglev!.maxEntries = tableSize;
}

const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);

function vipKey(vip: Vip): Uint8Array {
  const key = new Uint8Array(8);
  key.set(parseIpv4(vip.address), 0);
  new DataView(key.buffer).setUint16(4, vip.port, false);
  key[6] = vip.protocol === 'tcp' ? 6 : 17;
  return key;
}

function backendValue(backend: Backend | undefined): Uint8Array {
  const value = new Uint8Array(28);
  if (!backend) return value;
  const view = new DataView(value.buffer);
  value.set(parseIpv4(backend.address), 0);
  value.set(parseIpv4(backend.localAddress), 4);
  view.setUint32(8, backend.ifindex, true);
  view.setUint32(12, 1, true);
  value.set(parseMac(backend.mac), 16);
  value.set(parseMac(backend.localMac), 22);
  return value;
}

export interface BackendChange {
  added: string[];
  removed: string[];
  /** Table slots rewritten, and their share of the table. */
  slotsChanged: number;
  fractionChanged: number;
}

export class Balancer {
  #ids = new Map<string, number>();
  #backends = new Map<string, Backend>();
  #table: Uint32Array | undefined;
  #vips: Vip[] = [];

  constructor(
    private readonly collection: Pick<BpfCollection, 'map'>,
    readonly tableSize: number,
  ) {}

  get backends(): Backend[] {
    return [...this.#backends.values()];
  }

  /** The id (backends map index) of backend `name`. */
  idOf(name: string): number | undefined {
    return this.#ids.get(name);
  }

  /** The current table (slot → backend id). */
  get table(): Uint32Array | undefined {
    return this.#table;
  }

  setVips(vips: Vip[]): void {
    const map = this.collection.map('vips');
    const wanted = new Set(vips.map((v) => Buffer.from(vipKey(v)).toString('hex')));
    for (const key of [...map.keys()]) if (!wanted.has(Buffer.from(key).toString('hex'))) map.delete(key);
    for (const vip of vips) map.update(vipKey(vip), u32(1));
    this.#vips = vips;
  }

  get vips(): Vip[] {
    return this.#vips;
  }

  /** Makes `backends` the set in service, with as few table changes as Maglev allows. */
  setBackends(backends: Backend[]): BackendChange {
    const names = new Set(backends.map((b) => b.name));
    const removed = [...this.#backends.keys()].filter((n) => !names.has(n));
    const added = backends.filter((b) => !this.#backends.has(b.name)).map((b) => b.name);
    const map = this.collection.map('backends');
    // New and changed backends are written before the table points at them.
    for (const backend of backends) {
      let id = this.#ids.get(backend.name);
      if (id === undefined) {
        const used = new Set(this.#ids.values());
        id = [...Array(MAX_BACKENDS).keys()].find((n) => !used.has(n));
        if (id === undefined) throw new MaglevError(`no free backend slot (at most ${MAX_BACKENDS})`);
        this.#ids.set(backend.name, id);
      }
      map.update(u32(id), backendValue(backend));
      this.#backends.set(backend.name, backend);
    }
    let slotsChanged = 0;
    if (backends.length > 0) {
      const table = buildMaglevTable(backends.map((b) => ({ name: b.name, id: this.#ids.get(b.name)! })), this.tableSize);
      const slots = this.#table ? changedSlots(this.#table, table) : [...table.keys()];
      const maglev = this.collection.map('maglev');
      if (slots.length > 0) maglev.updateBatch(slots.map(u32), slots.map((s) => u32(table[s]!)));
      slotsChanged = slots.length;
      this.#table = table;
    }
    // Removed backends go inactive only now that no slot names them: their remembered flows re-hash.
    for (const name of removed) {
      map.update(u32(this.#ids.get(name)!), backendValue(undefined));
      this.#ids.delete(name);
      this.#backends.delete(name);
    }
    if (backends.length === 0) this.#table = undefined;
    return { added, removed, slotsChanged, fractionChanged: slotsChanged / this.tableSize };
  }

  /** The counters summed over CPUs. */
  counters(): Record<LbCounterName, number> {
    const map = this.collection.map('counters');
    return Object.fromEntries(
      LB_COUNTER_NAMES.map((name, index) => [name, (map.lookupPerCpu(u32(index)) ?? []).reduce((sum, v) => sum + Number(new DataView(v.buffer, v.byteOffset).getBigUint64(0, true)), 0)]),
    ) as Record<LbCounterName, number>;
  }
}

/**
 * Fills in what a backend's configuration leaves out from the running
 * system (the current network namespace): the interface's index, MAC and
 * first IPv4 address, and the next hop's MAC from the ARP table.
 */
export function resolveBackend(config: BackendConfig, file: string, lbInterface: string): Backend {
  const fail = (problem: string): never => {
    throw new ConfigFileError(file, config.line, `backends '${config.name}'`, problem);
  };
  const iface = config.interface ?? lbInterface;
  const addresses = networkInterfaces()[iface];
  if (!addresses) fail(`interface '${iface}' does not exist here`);
  const localMac = addresses!.find((a) => a.mac)?.mac ?? fail(`interface '${iface}' has no MAC address`);
  const localAddress = config.localAddress ?? addresses!.find((a) => a.family === 'IPv4')?.address ?? fail(`interface '${iface}' has no IPv4 address; give local_address`);
  let mac = config.mac;
  if (mac === undefined) {
    const arp = readFileSync('/proc/net/arp', 'utf8').split('\n').slice(1).map((line) => line.trim().split(/\s+/));
    mac = arp.find((f) => f[0] === config.address && f[5] === iface && f[3] !== '00:00:00:00:00:00')?.[3] ?? fail(`no ARP entry for ${config.address} on ${iface}: give mac, or reach it once (ping) first`);
  }
  // if_nametoindex, not /sys/class/net: sysfs shows the namespace it was mounted in, not the caller's.
  const ifindex = config.interface === undefined ? 0 : resolveInterface(iface).ifindex;
  return { name: config.name, address: config.address, localAddress, ifindex, mac, localMac };
}

/** Configures a loaded collection from a configuration whose backends are resolved already. */
export function applyLbConfig(balancer: Balancer, config: LbConfig, backends: Backend[]): BackendChange {
  if (config.tableSize !== balancer.tableSize) throw new MaglevError(`table_size changed from ${balancer.tableSize} to ${config.tableSize}: that needs a restart (the map is sized at load)`);
  balancer.setVips(config.vips);
  return balancer.setBackends(backends);
}
