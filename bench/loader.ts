// Loader benchmark: parse + link every program of a generated object of
// ~10k instructions (48 programs, 24 shared subprograms, a 48-entry tail-call
// prog array and a map-in-map). Run: node --import tsx bench/loader.ts
import { readFileSync } from 'node:fs';
import { loadCollectionSpec } from '../src/object/index.ts';
import { compileLargeFixture } from '../test/support/large-object.ts';

const path = compileLargeFixture();
const bytes = new Uint8Array(readFileSync(path));
const objectInstructions = (() => {
  const spec = loadCollectionSpec(bytes);
  return Object.values(spec.programs).reduce((n, p) => n + p.instructions.length, 0);
})();

const iterations = 20;
for (let i = 0; i < 3; i++) loadCollectionSpec(bytes); // warm-up (JIT)
const times: number[] = [];
let programs = 0;
for (let i = 0; i < iterations; i++) {
  const t0 = performance.now();
  const spec = loadCollectionSpec(bytes);
  times.push(performance.now() - t0);
  programs = Object.keys(spec.programs).length;
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)]!;
console.log(
  `loader: ${path} (${bytes.length} bytes, ${programs} programs, ${objectInstructions} linked instructions): ` +
    `median ${median.toFixed(1)} ms, best ${times[0]!.toFixed(1)} ms, worst ${times.at(-1)!.toFixed(1)} ms over ${iterations} runs (parse + link all programs)`,
);
