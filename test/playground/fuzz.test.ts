// The playground's own parsers (the `.map` lines of an assembly source, hex
// input, shared links, the packet form) fed random and mutated input: only
// their typed errors may escape. The modules are bundled as the page gets
// them (tsbpf resolved through the package's browser entry points).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundleForBrowser } from '../browser/support.ts';
import { TsbpfError } from '../../src/errors.ts';

// What the tests use of the bundled modules (the playground's own tsconfig types them; the root one cannot resolve `tsbpf` from there).
interface Modules {
  engine: {
    assemblySpec(text: string, section: string): unknown;
    parseHex(text: string): Uint8Array;
    verifyProgram(spec: unknown, name: string): { accepted: boolean; error?: { message: string } };
  };
  share: { encodeState(state: object): Promise<string>; decodeState(hash: string): Promise<{ source: string } | undefined> };
  packet: { buildFormPacket(form: object): Uint8Array };
  examples: { EXAMPLES: { id: string; mode: string; section: string; source: string }[]; DEFAULT_PACKET: Record<string, unknown> };
}

async function loadModules(): Promise<Modules> {
  const source = `export * as engine from './playground/src/engine.ts'; export * as share from './playground/src/share.ts'; export * as packet from './playground/src/packet.ts'; export * as examples from './playground/src/examples.ts';`;
  const { code } = await bundleForBrowser({ source }, { format: 'esm' });
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-playground-fuzz-'));
  try {
    const file = join(dir, 'modules.mjs');
    writeFileSync(file, code);
    return (await import(pathToFileURL(file).href)) as Modules;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A small deterministic generator (xorshift32), so a failure reproduces. */
function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

function mutate(text: string, rnd: () => number): string {
  const chars = [...text];
  const alphabet = ' \n\t.=()_-:0123456789abcdefxyzmapkeyvaluentrsARHS#;/\\"\'{}[]@$%\u00e9\u{1F600}\u0000';
  const edits = 1 + Math.floor(rnd() * 6);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(rnd() * (chars.length + 1));
    const op = rnd();
    if (op < 0.4) chars.splice(at, 1);
    else if (op < 0.8) chars.splice(at, 0, alphabet[Math.floor(rnd() * alphabet.length)]!);
    else chars.splice(at, 0, ...chars.slice(Math.floor(rnd() * chars.length), Math.floor(rnd() * chars.length)));
  }
  return chars.join('');
}

const CASES = 400;

test('fuzz: assembly sources with .map lines, hex input, shared links and packet forms raise only typed errors', async () => {
  const { engine, share, packet, examples } = await loadModules();
  const rnd = random(20261203);
  const expectTyped = (what: string, input: unknown, body: () => unknown): void => {
    try {
      body();
    } catch (error) {
      // The bundle has its own copy of TsbpfError: match by the class chain's names.
      const names: string[] = [];
      for (let p = Object.getPrototypeOf(error); p !== null; p = Object.getPrototypeOf(p)) names.push(p.constructor.name);
      assert.ok(names.includes('TsbpfError') || error instanceof TsbpfError, `${what} threw ${String(error)} for ${JSON.stringify(input)}`);
    }
  };
  const sources = examples.EXAMPLES.filter((e) => e.mode === 'asm').map((e) => e.source);
  for (let i = 0; i < CASES; i++) {
    const text = mutate(sources[i % sources.length]!, rnd);
    expectTyped('assemblySpec', text, () => engine.assemblySpec(text, 'xdp'));
    const hexText = mutate('0x02 00 00 00 00 01 08 00 45 00\nab:cd-ef', rnd);
    expectTyped('parseHex', hexText, () => engine.parseHex(hexText));
    const form = { ...examples.DEFAULT_PACKET, src: mutate('10.0.0.1', rnd), dst: mutate('fd00::2', rnd), srcMac: mutate('02:00:00:00:00:01', rnd), sport: Math.floor(rnd() * 80000) - 5000, ttl: Math.floor(rnd() * 300), l3: rnd() < 0.5 ? ('ipv4' as const) : ('ipv6' as const) };
    expectTyped('buildFormPacket', form, () => packet.buildFormPacket(form));
  }
  // Shared links: valid ones round-trip; damaged ones (cut, flipped, random) are ShareLinkError or decode to a checked state.
  const state = { mode: 'asm' as const, source: sources[0]!, section: 'xdp', syntax: 'auto' as const, input: '0200', engine: 'jit' as const, maps: { counts: [['11000000', '0200000000000000']] as [string, string][] } };
  const link = await share.encodeState(state);
  assert.deepEqual(await share.decodeState(link), state);
  assert.equal(await share.decodeState('#other'), undefined);
  for (let i = 0; i < CASES / 4; i++) {
    const damaged = mutate(link, rnd);
    try {
      const decoded = await share.decodeState(damaged);
      if (decoded !== undefined) assert.equal(typeof decoded.source, 'string');
    } catch (error) {
      assert.equal((error as Error).name, 'ShareLinkError', `${String(error)} for ${damaged}`);
    }
  }
  // A short link that inflates past the limit is refused, not decompressed without end.
  const bomb = await share.encodeState({ ...state, source: 'x'.repeat(2 << 20) });
  assert.ok(bomb.length < 8192, `${bomb.length} characters`);
  await assert.rejects(share.decodeState(bomb), (e: Error) => e.name === 'ShareLinkError' && /over 1048576 bytes/.test(e.message));
});

test('the examples: each accepted by the verifier but the one meant to be rejected, whose fix is accepted', async () => {
  const { engine, examples } = await loadModules();
  for (const example of examples.EXAMPLES.filter((e) => e.mode === 'asm')) {
    const result = engine.verifyProgram(engine.assemblySpec(example.source, example.section), 'prog');
    assert.equal(result.accepted, example.id !== 'rejected', `${example.id}: ${result.error?.message ?? 'accepted'}`);
    if (example.id === 'rejected') {
      const fixed = example.source.replace(/^;(\s+if r3 > r2 goto out)/m, ' $1');
      assert.equal(engine.verifyProgram(engine.assemblySpec(fixed, example.section), 'prog').accepted, true);
    }
  }
});
