// execsnoop through generated bindings: `tsbpf gen types` wrote
// execsnoop.gen.ts from execsnoop.o, so the rodata, the ring buffer's
// records and the program are typed. Needs root (the kernel backend).
//
//   clang-19 -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -c examples/execsnoop.c -o execsnoop.o
//   npx tsbpf gen types execsnoop.o -o examples/execsnoop.gen.ts --import-from ../src
//   sudo node --import tsx examples/execsnoop.ts
import { execFileSync } from 'node:child_process';
import { loadExecsnoop } from './execsnoop.gen.ts';

const objs = await loadExecsnoop({ backend: 'kernel' });
objs.rodata.target_ppid = process.pid; // only the commands this script starts
const links = objs.attach();
for (const command of ['/bin/true', '/bin/echo', '/usr/bin/env']) execFileSync(command, [], { stdio: 'ignore' });

console.log('PID      PPID     COMM             FILENAME');
let seen = 0;
for await (const e of objs.ringbufs.events) {
  // e is an Event: pid and ppid are numbers, comm and filename strings.
  console.log(`${String(e.pid).padEnd(8)} ${String(e.ppid).padEnd(8)} ${e.comm.padEnd(16)} ${e.filename}`);
  if (++seen === 3) break;
}
links.close();
objs.close();
