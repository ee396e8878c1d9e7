// The use cases' XDP programs as users run them, beside the kernel in the
// same run:
//
// 1. xdp_guard (examples/ddos) and xdp_lb (examples/lb) on a sample of
//    their traffic (the attack capture's packets; flows to a VIP), each
//    packet through `program.run({ data, repeat })` on the VM's
//    interpreter, its JIT and the kernel (BPF_PROG_TEST_RUN): mean ns per
//    run and the VM's ratio to the kernel.
// 2. `tsbpf xdp-guard --pcap`'s path: the whole attack capture replayed on
//    the VM with the capture's clock, packets/s.
// 3. Building a Maglev table of 65,537 slots in TypeScript.
//
//   node --import tsx bench/usecases.ts       (as root for the kernel column; needs clang)
import { execFileSync } from 'node:child_process';
import { loadCollectionSpec, type CollectionSpec } from '../src/object/index.ts';
import { loadVmCollection } from '../src/vm/index.ts';
import type { BpfCollection } from '../src/backend/index.ts';
import { buildPacket, ethernet, ipv4, payload, udp } from '../src/net/index.ts';
import { applyGuardConfig, loadGuardConfig, loadGuardOnVm } from '../src/tools/ddos/index.ts';
import { Balancer, buildMaglevTable, sizeLbSpec, type Backend } from '../src/tools/lb/index.ts';
import { buildBpfObject, exampleSource } from '../src/tools/usecase-support/index.ts';
import { buildAttackTraffic } from '../examples/ddos/traffic.ts';

const REPEAT = 2000;
const asRoot = process.getuid?.() === 0;
console.log(`load: ${execFileSync('uptime', { encoding: 'utf8' }).trim()}`);

const guardSpec = (): CollectionSpec => loadCollectionSpec(buildBpfObject(exampleSource('ddos/xdp_guard.c')));
const lbSpec = (): CollectionSpec => {
  const spec = loadCollectionSpec(buildBpfObject(exampleSource('lb/xdp_lb.c')));
  sizeLbSpec(spec, 65537);
  return spec;
};
const attack = buildAttackTraffic();
const guardSample = attack.filter((_, i) => i % Math.floor(attack.length / 60) === 0).map((p) => p.data);
const lbSample = Array.from({ length: 60 }, (_, n) => buildPacket(ethernet(), ipv4({ src: `10.0.${n}.1`, dst: '10.250.0.100' }), udp({ sport: 20000 + n, dport: 8080 }), payload(64)));
const backends: Backend[] = [1, 2, 3, 4, 5].map((i) => ({ name: `be${i}`, address: `10.201.${i}.2`, localAddress: `10.201.${i}.1`, ifindex: 1, mac: '02:00:00:00:00:02', localMac: '02:00:00:00:00:01' }));

type Setup = (collection: Pick<BpfCollection, 'map'>) => void;
const guardSetup: Setup = (c) => applyGuardConfig(c, loadGuardConfig(exampleSource('ddos/guard.yaml')));
const lbSetup: Setup = (c) => {
  const balancer = new Balancer(c, 65537);
  balancer.setVips([{ address: '10.250.0.100', port: 8080, protocol: 'udp' }]);
  balancer.setBackends(backends);
};

/** Mean ns per run over the sample, `REPEAT` runs of each packet. */
function measure(collection: BpfCollection, program: string, sample: Uint8Array[]): number {
  const p = collection.program(program);
  let total = 0;
  for (const data of sample) total += p.run({ data, repeat: REPEAT }).durationNs;
  return total / sample.length;
}

async function engines(name: string, spec: () => CollectionSpec, program: string, setup: Setup, sample: Uint8Array[]): Promise<void> {
  const results: Array<[string, number]> = [];
  for (const jit of [false, true]) {
    const collection = loadVmCollection(spec(), { programs: [program] });
    const vm = jit ? loadVmCollection(spec(), { programs: [program], jit: true }) : collection;
    if (jit) collection.close();
    try {
      setup(vm);
      measure(vm, program, sample.slice(0, 5));
      results.push([jit ? 'VM JIT' : 'VM interpreter', measure(vm, program, sample)]);
    } finally {
      vm.close();
    }
  }
  if (asRoot) {
    const { loadCollection } = await import('../src/kernel/index.ts');
    const kernel = loadCollection(spec(), { programs: [program] });
    try {
      setup(kernel);
      measure(kernel, program, sample.slice(0, 5));
      results.push(['kernel', measure(kernel, program, sample)]);
    } finally {
      kernel.close();
    }
  }
  const reference = results.find(([engine]) => engine === 'kernel')?.[1];
  for (const [engine, ns] of results) console.log(`${name.padEnd(10)} ${engine.padEnd(15)} ${ns.toFixed(1).padStart(8)} ns/run${reference ? `  ${(ns / reference).toFixed(2)}x the kernel` : ''}`);
}

for (let round = 1; round <= 3; round++) {
  console.log(`-- round ${round}: ${guardSample.length} packets × ${REPEAT} runs each`);
  await engines('xdp_guard', guardSpec, 'xdp_guard', guardSetup, guardSample);
  await engines('xdp_lb', lbSpec, 'xdp_lb', lbSetup, lbSample);
}

for (const jit of [false, true]) {
  const guard = loadGuardOnVm(guardSpec(), { jit });
  try {
    guardSetup(guard.collection);
    const start = performance.now();
    for (const packet of attack) guard.run(packet.data, packet.timestamp);
    const seconds = (performance.now() - start) / 1000;
    console.log(`replay of the attack capture (${attack.length} packets, one run() each) on the VM${jit ? ' JIT' : ''}: ${Math.round(attack.length / seconds).toLocaleString('en')} packets/s`);
  } finally {
    guard.close();
  }
}

for (const n of [10, 100]) {
  const list = Array.from({ length: n }, (_, id) => ({ name: `backend-${id}`, id }));
  buildMaglevTable(list);
  const start = performance.now();
  for (let i = 0; i < 5; i++) buildMaglevTable(list);
  console.log(`Maglev table, 65,537 slots, ${n} backends: ${((performance.now() - start) / 5).toFixed(1)} ms`);
}
