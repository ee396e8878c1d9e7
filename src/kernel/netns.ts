/**
 * Running code inside another network namespace: interface names resolve,
 * and XDP/tcx links and sockets are created, in that namespace. setns()
 * switches only the calling thread (Node's main thread), so `fn` must be
 * synchronous; the thread switches back before returning.
 */
import { existsSync } from 'node:fs';
import { KernelArgumentError } from './errors.ts';
import { OwnedFd } from './fd.ts';
import { sysOpen, sysSetns } from './ffi.ts';

const CLONE_NEWNET = 0x40000000;
const O_RDONLY = 0;

/** Runs `fn` in the network namespace named `name` (ip netns: /run/netns/NAME) or at a path such as /proc/PID/ns/net. */
export function withNetworkNamespace<T>(name: string, fn: () => T): T {
  const path = name.includes('/') ? name : `/run/netns/${name}`;
  if (!existsSync(path)) throw new KernelArgumentError(`network namespace '${name}' does not exist (no ${path})`);
  const original = new OwnedFd(sysOpen(`/proc/thread-self/ns/net`, O_RDONLY), 'network namespace');
  try {
    const target = new OwnedFd(sysOpen(path, O_RDONLY), 'network namespace');
    try {
      sysSetns(target.fd, CLONE_NEWNET, path);
    } finally {
      target.close();
    }
    try {
      return fn();
    } finally {
      sysSetns(original.fd, CLONE_NEWNET, 'back to the original network namespace');
    }
  } finally {
    original.close();
  }
}
