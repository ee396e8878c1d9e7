/**
 * ebpf_exporter's cgroup_id_map: the exporter keeps a map filled with the
 * cgroups whose path matches one of the config's regexps, so programs can
 * count only those. `hash` maps take the cgroup id (u64) as key, value 1;
 * `cgrp_storage` maps are set through an fd of the cgroup directory and
 * empty themselves when a cgroup goes. The cgroup tree is rescanned every
 * second (ebpf_exporter watches it with fanotify; a scan is cheap next to
 * that and needs no extra capability).
 */
import { closeSync, openSync } from 'node:fs';
import type { BpfMap } from '../backend/index.ts';
import type { CgroupIdMapConfig } from './config.ts';
import { cgroupIds } from './decoders.ts';
import { ExportError } from './errors.ts';

const RESCAN_MS = 1000;
const ONE = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);

const u64 = (value: bigint): Uint8Array => {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, value, true);
  return out;
};

export class CgroupIdMapUpdater {
  /** Ids currently in a hash map. */
  readonly #present = new Set<bigint>();
  #timer: NodeJS.Timeout | undefined;

  constructor(
    readonly map: BpfMap,
    readonly config: CgroupIdMapConfig,
    readonly cgroupRoot: string,
    readonly cgroup2Only: boolean,
    readonly onError: (error: unknown) => void,
  ) {
    const keySize = config.type === 'hash' ? 8 : 4;
    if (map.keySize !== keySize || map.valueSize !== 8) {
      throw new ExportError(`${config.keyPath}: map '${config.name}' has ${map.keySize}-byte keys and ${map.valueSize}-byte values; a ${config.type} cgroup_id_map needs ${keySize}-byte keys and u64 values`);
    }
  }

  /** Fills the map now, then keeps it current. */
  start(): void {
    this.sync();
    this.#timer = setInterval(() => {
      try {
        this.sync();
      } catch (error) {
        this.onError(error);
      }
    }, RESCAN_MS).unref();
  }

  /** One pass: adds the matching cgroups that appeared, removes (hash maps) those that went. */
  sync(): void {
    const matching = new Map<bigint, string>();
    for (const [id, path] of cgroupIds(this.cgroupRoot, this.cgroup2Only)) if (this.config.regexps.some((r) => r.test(path))) matching.set(id, path);
    for (const [id, path] of matching) {
      if (this.#present.has(id)) continue;
      if (this.config.type === 'hash') this.map.update(u64(id), ONE);
      else this.#setStorage(path);
      this.#present.add(id);
    }
    for (const id of this.#present) {
      if (matching.has(id)) continue;
      if (this.config.type === 'hash') this.map.delete(u64(id));
      this.#present.delete(id);
    }
  }

  #setStorage(path: string): void {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch {
      return; // gone between the scan and now
    }
    try {
      const key = new Uint8Array(4);
      new DataView(key.buffer).setUint32(0, fd, true);
      this.map.update(key, ONE);
    } finally {
      closeSync(fd);
    }
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
