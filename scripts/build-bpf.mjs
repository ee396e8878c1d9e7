#!/usr/bin/env node
// Compiles the tools' BPF programs (src/tools/bpf/*.bpf.c) into
// dist/tools/bpf/*.bpf.o, after tsc has built dist/, so that the npm
// package runs the tools without clang. vmlinux.h comes from tsbpf's own
// BTF-to-C formatter (`tsbpf btf dump vmlinux --format c`). Without clang,
// libbpf's headers or kernel BTF it says so in one line and skips: the tools
// then fail with an error saying how to build them.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const objects = await import(join(root, 'dist', 'tools', 'objects.js'));
const reason = objects.cannotCompileReason() ?? (existsSync('/sys/kernel/btf/vmlinux') ? undefined : 'this kernel has no BTF (/sys/kernel/btf/vmlinux) to write vmlinux.h from');
if (reason !== undefined) {
  console.log(`build-bpf: skipped, ${reason}; the tools (tsbpf tool ...) need their objects: install clang-19 and libbpf-dev and run npm run build again`);
  process.exit(0);
}
const outDir = join(root, 'dist', 'tools', 'bpf');
const includeDir = join(root, '.cache', 'tools', 'include');
const names = objects.bpfSourceNames();
for (const name of names) objects.compileToolObject(name, outDir, includeDir);
console.log(`build-bpf: ${names.length} objects in ${outDir}`);
