#!/usr/bin/env node
// Part of `npm run build`, after tsc has built dist/: compiles the BPF
// programs tsbpf ships as C (the tools' src/tools/bpf/*.bpf.c and the use
// cases' examples/*/*.c) into dist/bpf/, each with its source's content key
// beside it, so that the npm package runs them without clang. Without clang
// or libbpf's headers it says so in one line and skips: the commands then
// compile on first use, or say how to get a compiler.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const builder = await import(join(root, 'dist', 'tools', 'bpf-build.js'));
const reason = builder.cannotCompileReason();
if (reason !== undefined) {
  console.log(`build-bpf: skipped, ${reason}; install clang-19 and libbpf-dev and run npm run build again, or let the commands compile on first use`);
  process.exit(0);
}
const names = builder.prebuildAll();
console.log(`build-bpf: ${names.length} objects in ${builder.PREBUILT_DIR}`);
