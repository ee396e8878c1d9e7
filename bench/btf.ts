// BTF benchmark: parse the running kernel's BTF and generate vmlinux.h from it.
// Run: node --import tsx bench/btf.ts
import { readFileSync } from 'node:fs';
import { generateVmlinuxH, parseBtf } from '../src/btf/index.ts';

const VMLINUX = '/sys/kernel/btf/vmlinux';

function measure(what: string, iterations: number, run: () => void): void {
  for (let i = 0; i < 2; i++) run(); // warm-up (JIT)
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  console.log(`${what}: median ${median.toFixed(1)} ms, best ${times[0]!.toFixed(1)} ms, worst ${times.at(-1)!.toFixed(1)} ms over ${iterations} runs`);
}

const bytes = new Uint8Array(readFileSync(VMLINUX));
const btf = parseBtf(bytes);
measure(`parseBtf(${VMLINUX}) (${bytes.length} bytes, ${btf.types.length} types)`, 10, () => parseBtf(bytes));
measure(`generateVmlinuxH (${generateVmlinuxH(btf).length} bytes of C)`, 5, () => generateVmlinuxH(btf));
