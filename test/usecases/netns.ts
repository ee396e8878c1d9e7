/**
 * Network namespaces and veth pairs the use-case kernel tests create, raw
 * frames sent and counted through packet sockets, and CPU pinning so that
 * per-CPU state is on one CPU. Everything made here is registered on the
 * test's `after` so it goes away even when the test fails.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { OwnedFd } from '../../src/kernel/fd.ts';
import { sysBind, sysGetAffinity, sysIfNameToIndex, sysRead, sysSetAffinity, sysSetsockopt, sysSocket, sysWrite } from '../../src/kernel/ffi.ts';

const AF_PACKET = 17;
const SOCK_RAW_NONBLOCK = 3 | 0o4000;
const ETH_P_ALL = 0x0003;
const SOL_SOCKET = 1;
const SO_RCVBUFFORCE = 33;
const SOL_PACKET = 263;
const PACKET_IGNORE_OUTGOING = 23;

interface Cleanup {
  after(fn: () => void): void;
}

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A new network namespace (deleted after the test) with loopback up and IPv6 autoconfiguration off. */
export function namespace(t: Cleanup, name: string): string {
  spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  t.after(() => spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' }));
  ip('netns', 'add', name);
  ip('-n', name, 'link', 'set', 'lo', 'up');
  return name;
}

/** No IPv6 in these namespaces: their interfaces then send nothing of their own that counters would see. */
export function quietNamespaces(...names: string[]): void {
  for (const ns of names) execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
}

/** A veth pair: `a` in namespace `nsA`, `b` in `nsB`, both up (gone with the namespaces). */
export function vethPair(nsA: string, a: string, nsB: string, b: string): void {
  ip('-n', nsA, 'link', 'add', a, 'type', 'veth', 'peer', 'name', b, 'netns', nsB);
  ip('-n', nsA, 'link', 'set', a, 'up');
  ip('-n', nsB, 'link', 'set', b, 'up');
}

/** The MAC address of `device` in namespace `ns`. */
export function macOf(ns: string, device: string): string {
  const [info] = JSON.parse(ip('-n', ns, '-j', 'link', 'show', device)) as Array<{ address: string }>;
  return info!.address;
}

export function ifindexOf(ns: string, device: string): number {
  const [info] = JSON.parse(ip('-n', ns, '-j', 'link', 'show', device)) as Array<{ ifindex: number }>;
  return info!.ifindex;
}

/** An AF_PACKET socket bound to `device` of the current namespace, receiving every protocol but not what it sends. */
export function packetSocket(device: string): OwnedFd {
  const socket = new OwnedFd(sysSocket(AF_PACKET, SOCK_RAW_NONBLOCK, ((ETH_P_ALL & 0xff) << 8) | (ETH_P_ALL >> 8)), 'packet socket');
  const address = new Uint8Array(20);
  const view = new DataView(address.buffer);
  view.setUint16(0, AF_PACKET, true);
  view.setUint16(2, ETH_P_ALL, false);
  view.setInt32(4, sysIfNameToIndex(device), true);
  sysBind(socket.fd, address, `packet socket on ${device}`);
  const int = (n: number): Uint8Array => new Uint8Array(new Int32Array([n]).buffer);
  sysSetsockopt(socket.fd, SOL_SOCKET, SO_RCVBUFFORCE, int(8 << 20), 'SO_RCVBUFFORCE');
  sysSetsockopt(socket.fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, int(1), 'PACKET_IGNORE_OUTGOING');
  return socket;
}

export function sendFrames(socket: OwnedFd, frames: Uint8Array[]): void {
  for (const frame of frames) sysWrite(socket.fd, frame, 'send a frame');
}

/** Frames received on `socket` until none come for 100 ms after at least `expected` (or 3 s in all). */
export async function receiveFrames(socket: OwnedFd, expected: number): Promise<Uint8Array[]> {
  const buffer = new Uint8Array(65536);
  const frames: Uint8Array[] = [];
  let quiet = 0;
  for (let waited = 0; waited < 3000 && quiet < 5; waited += 20) {
    let got = 0;
    for (let n = sysRead(socket.fd, buffer); n >= 0; n = sysRead(socket.fd, buffer)) {
      frames.push(buffer.slice(0, n));
      got++;
    }
    quiet = got === 0 && frames.length >= expected ? quiet + 1 : 0;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return frames;
}

/** Runs `fn` with the calling thread on CPU 0 only, so per-CPU map values and buckets all live on one CPU. */
export function onOneCpu<T>(fn: () => T): T {
  const saved = sysGetAffinity();
  const mask = new Uint8Array(128);
  mask[0] = 1;
  sysSetAffinity(mask);
  try {
    return fn();
  } finally {
    sysSetAffinity(saved);
  }
}
