import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import { findFunctionOffset } from '../../src/kernel/elf-symbols.ts';
import { ElfSymbols, KernelSymbols, ProcessSymbols, formatSymbol, stackAddresses, symbolizeStack } from '../../src/kernel/symbolize.ts';
import { skipWithoutKernel } from '../support/env.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';
import { KernelArgumentError } from '../../src/kernel/errors.ts';
import { parseUprobeTarget } from '../../src/kernel/section-attach.ts';
import { parseTraceLine } from '../../src/cli/commands/trace-pipe.ts';

const KALLSYMS = `ffffffff81000000 T _stext
ffffffff81000100 T do_one
ffffffff81000180 t helper_two
ffffffffc0001000 t nft_do_chain\t[nf_tables]
0000000000000000 A fixed_percpu_data
`;

test('kallsyms: the nearest symbol at or below an address, with offset and module', () => {
  const symbols = new KernelSymbols(KALLSYMS);
  assert.deepEqual(symbols.lookup(0xffffffff81000104n), { name: 'do_one', offset: 4n });
  assert.deepEqual(symbols.lookup(0xffffffffc0001010n), { name: 'nft_do_chain', offset: 0x10n, module: '[nf_tables]' });
  assert.equal(symbols.lookup(0xffffffff80000000n), undefined);
  assert.equal(symbols.address('helper_two'), 0xffffffff81000180n);
  assert.throws(() => new KernelSymbols('0000000000000000 T a\n'), /shows no addresses/);
});

test('stack trace values: addresses up to the first zero, frames symbolised kernel-side and named by hex otherwise', () => {
  const value = new Uint8Array(32);
  const view = new DataView(value.buffer);
  view.setBigUint64(0, 0xffffffff81000184n, true);
  view.setBigUint64(8, 0x7f0000001000n, true);
  assert.deepEqual(stackAddresses(value), [0xffffffff81000184n, 0x7f0000001000n]);
  assert.deepEqual(symbolizeStack(stackAddresses(value), { kernel: new KernelSymbols(KALLSYMS) }), ['helper_two+0x4', '0x7f0000001000']);
  assert.equal(formatSymbol(1n, { name: 'f', offset: 0n, module: '/lib/x.so' }), 'f /lib/x.so');
});

test('ELF and process symbols: libc functions by file address and by their address in this process', { skip: skipWithoutKernel() }, () => {
  const maps = readFileSync('/proc/self/maps', 'latin1').split('\n');
  const libc = maps.map((l) => /\s(\/\S*libc\.so\.6)$/.exec(l)?.[1]).find((p) => p !== undefined)!;
  const malloc = findFunctionOffset(libc, 'malloc');
  assert.deepEqual(new ElfSymbols(libc).lookup(malloc.address + 3n), { name: 'malloc', offset: 3n, module: libc });
  // The running address: the executable mapping of libc holding malloc's file offset.
  const mapping = maps
    .map((l) => /^([0-9a-f]+)-([0-9a-f]+) r-xp ([0-9a-f]+) \S+ \d+\s+(\S+)$/.exec(l))
    .find((m) => m !== null && m[4] === libc && BigInt(`0x${m[3]}`) <= malloc.fileOffset && malloc.fileOffset < BigInt(`0x${m[3]}`) + BigInt(`0x${m[2]}`) - BigInt(`0x${m[1]}`))!;
  const running = BigInt(`0x${mapping[1]}`) + malloc.fileOffset - BigInt(`0x${mapping[3]}`);
  assert.deepEqual(new ProcessSymbols(process.pid).lookup(running + 8n), { name: 'malloc', offset: 8n, module: libc });
});

test('the running kernel: __bpf_call_base and a helper resolve through /proc/kallsyms', { skip: skipWithoutKernel() }, () => {
  const symbols = new KernelSymbols();
  const base = symbols.address('__bpf_call_base')!;
  assert.deepEqual(symbols.lookup(base), { name: '__bpf_call_base', offset: 0n });
  const reserve = symbols.address('bpf_ringbuf_reserve')!;
  assert.equal(symbols.lookup(reserve + 1n)!.name, 'bpf_ringbuf_reserve');
});

test('fuzz: kallsyms text, trace_pipe lines and uprobe targets: only typed errors, never a crash', () => {
  const random = seededRandom(fuzzSeed(21));
  const alphabet = 'ffffffff81000000 Tt_ab:+0x/[]\t\n.-123 (  )d..1 bpf_trace_printk: ';
  const text = (length: number): string => Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
  for (let i = 0; i < 2000; i++) {
    const input = text(Math.floor(random() * 80));
    try {
      new KernelSymbols(`${KALLSYMS}${input}`).lookup(BigInt(Math.floor(random() * 2 ** 48)) | 0xffff000000000000n);
    } catch (error) {
      assert.ok(error instanceof KernelArgumentError, String(error));
    }
    const line = parseTraceLine(input);
    if (line !== undefined) assert.ok(Number.isInteger(line.pid) && Number.isFinite(line.timestamp));
    try {
      parseUprobeTarget(input, 'fuzz');
    } catch (error) {
      assert.ok(error instanceof KernelArgumentError, String(error));
    }
  }
});
