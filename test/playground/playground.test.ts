// The playground end to end in real headless Chromium (Debian's chromium
// driven by playwright-core): the bundle is built with Vite and served by
// `tsbpf playground`'s server; each result the page shows is compared with
// the library's own result computed here in Node. A failed step saves a
// screenshot under SCREENSHOT_DIR and names it in the failure.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import { type AsmError, assemble } from '../../src/isa/index.ts';
import { verify } from '../../src/verifier/index.ts';
import { VmProgram } from '../../src/vm/index.ts';
import { ProgramType } from '../../src/uapi/index.ts';
import { buildPacket, encodeCapture, ethernet, ipv4, ipv6, payload, tcp, udp } from '../../src/net/index.ts';
import { loadVmCollection } from '../../src/vm/index.ts';
import { collectionFromInstructions, loadCollectionSpec } from '../../src/object/index.ts';
import { compileScript, runInVm } from '../../src/trace/index.ts';
import { compileBpf } from '../support/clang.ts';
import { skipWithoutClang, skipWithoutCommand } from '../support/env.ts';
import { ROOT } from '../browser/support.ts';
import { buildPlayground, servePlayground, step } from './support.ts';

const needs = { skip: skipWithoutCommand('chromium', 'apt-get install chromium'), timeout: 180_000 };

// A program typed into the editor: reads the EtherType without a bounds check.
const UNCHECKED = `r2 = *(u32 *)(r1 + 4)
r1 = *(u32 *)(r1 + 0)
r0 = 2
r3 = r1
r3 += 14
r4 = *(u16 *)(r1 + 12)
if r4 != 0x8 goto out
r0 = 1
out:
exit`;
const CHECKED = UNCHECKED.replace('r3 += 14\n', 'r3 += 14\nif r3 > r2 goto out\n');
const PACKET = buildPacket(ethernet({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }), ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }), udp({ sport: 40000, dport: 9 }), payload('hello'));
const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

let browser: Browser;
let server: { url: string; close: () => Promise<void> };

before(async () => {
  if (needs.skip) return;
  await buildPlayground();
  server = await servePlayground();
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

async function openPage(url = server.url, viewport = { width: 1280, height: 800 }): Promise<Page> {
  const page = await browser.newPage({ viewport });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForSelector('body[data-ready]');
  assert.deepEqual(errors, [], 'no uncaught errors in the page');
  return page;
}

async function typeProgram(page: Page, source: string): Promise<void> {
  await page.fill('#source', '');
  await page.click('#source');
  await page.keyboard.type(source);
}

test('type, verify, see the rejection explained, fix, step forwards and back, run over a packet: as the library in Node', needs, async () => {
  const page = await openPage();
  try {
    const ready = Number(await page.getAttribute('body', 'data-ready'));
    console.log(`time to first interaction: ${ready.toFixed(0)} ms after navigation start`);

    await step(page, 'assembler-error-inline', async () => {
      await typeProgram(page, 'r0 = 1\nr0 += r11\nexit');
      await page.click('#verify');
      let expected = '';
      try {
        assemble('r0 = 1\nr0 += r11\nexit');
      } catch (error) {
        expected = (error as AsmError).reason;
        assert.equal((error as AsmError).line, 2);
      }
      assert.ok(expected !== '');
      assert.match((await page.textContent('#highlight .error-note'))!, new RegExp(`col \\d+: ${expected.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      assert.deepEqual(await page.locator('#problems li').allTextContents(), [`line 2, column ${(await page.textContent('#problems li'))!.split('column ')[1]!.split(':')[0]}: ${expected}`]);
    });

    await step(page, 'verify-rejected', async () => {
      await typeProgram(page, UNCHECKED);
      await page.click('#verify');
      const node = verify(assemble(UNCHECKED), { type: ProgramType.XDP, logLevel: 2 });
      assert.equal(node.accepted, false);
      const verdict = (await page.textContent('#verdict'))!;
      assert.equal(verdict, `rejected at instruction ${node.error!.insnIndex}: ${node.error!.message.split('\n').at(-1)}`);
      const explanation = (await page.textContent('#explanation'))!;
      assert.ok(explanation.includes(node.error!.explanation.summary), explanation);
      assert.ok(explanation.includes(node.error!.explanation.fix), explanation);
      assert.equal(await page.textContent('#log'), node.log);
      assert.match(await page.getAttribute(`#insns tr[data-insn="${node.error!.insnIndex}"]`, 'class') ?? '', /failed/);
    });

    await step(page, 'verify-fixed', async () => {
      await typeProgram(page, CHECKED);
      await page.click('#verify');
      const node = verify(assemble(CHECKED), { type: ProgramType.XDP, logLevel: 2, collectStates: true });
      assert.equal(node.accepted, true);
      assert.match((await page.textContent('#verdict'))!, new RegExp(`^accepted: ${node.processedInsns} instructions processed`));
      assert.equal(await page.textContent('#explanation'), '');
      // Clicking the exit shows every path that reached it, with the states the verifier had.
      const exit = node.states!.find((s) => s.insnIndex === 9)!;
      await page.click('#insns tr[data-insn="9"]');
      assert.equal(await page.locator('#paths .path').count(), exit.paths.length);
      const shownR0 = await page.locator('#paths .path td').allTextContents();
      for (const path of exit.paths) assert.ok(shownR0.includes(path.frames[0]!.registers.find((r) => r.regno === 0)!.text));
    });

    await step(page, 'run-packet', async () => {
      await page.click('#panels button[data-panel="input"]');
      await page.fill('#input-hex', hex(PACKET));
      await page.click('#run');
      const node = new VmProgram(ProgramType.XDP, assemble(CHECKED)).run({ data: PACKET });
      assert.equal(node.retval, 1);
      assert.equal(await page.textContent('#run-verdict'), `XDP_DROP (r0 = ${node.retval})`);
    });

    await step(page, 'step-forwards-and-back', async () => {
      const steps: bigint[][] = [];
      new VmProgram(ProgramType.XDP, assemble(CHECKED)).run({ data: PACKET, onStep: (s) => steps.push(Array.from({ length: 11 }, (_, n) => s.register(n))) });
      await page.click('#record');
      assert.match((await page.textContent('#step-info'))!, new RegExp(`^step 1 / ${steps.length}: 0 instructions executed`));
      const registers = async (): Promise<string[]> => page.locator('#step-regs tr td:nth-child(2)').allTextContents();
      for (let k = 1; k <= 3; k++) await page.click('#step-forward');
      assert.deepEqual(await registers(), steps[3]!.map((v) => `0x${v.toString(16)}`));
      assert.match((await page.textContent('#step-info'))!, /^step 4 \/ \d+: 3 instructions executed/);
      await page.click('#step-back');
      assert.deepEqual(await registers(), steps[2]!.map((v) => `0x${v.toString(16)}`));
      await page.click('#step-last');
      assert.match((await page.textContent('#step-info'))!, new RegExp(`exit with r0 = 1$`));
    });
  } finally {
    await page.close();
  }
});

test('examples: the map counter counts in a live, editable table; bpf_loop; the JIT shows its module as text; a pcap gets a verdict count', needs, async () => {
  const page = await openPage();
  try {
    await step(page, 'map-counter', async () => {
      await page.selectOption('#example', 'counter');
      await page.click('#run');
      await page.click('#run');
      await page.click('#panels button[data-panel="maps"]');
      // Key 17 (UDP) counted twice: the array's value at index 0x11, little-endian u64.
      const cell = page.locator('table[data-map="counts"] input[aria-label="counts[11000000]"]');
      assert.equal(await cell.inputValue(), '0200000000000000');
      await cell.fill('0a00000000000000');
      await cell.press('Enter');
      await page.click('#run');
      await page.click('#panels button[data-panel="maps"]');
      assert.equal(await cell.inputValue(), '0b00000000000000');
    });

    await step(page, 'bpf-loop', async () => {
      await page.selectOption('#example', 'loop');
      await page.click('#verify');
      assert.match((await page.textContent('#verdict'))!, /^accepted/);
      await page.click('#run');
      assert.equal(await page.textContent('#run-verdict'), '45 (r0 = 45)');
    });

    await step(page, 'jit-wasm-text', async () => {
      await page.selectOption('#example', 'drop');
      await page.selectOption('#engine', 'jit');
      await page.click('#run');
      assert.match((await page.textContent('#run-timing'))!, /^jit: \d+ ns per run/);
      await page.click('#panels button[data-panel="wasm"]');
      await page.waitForFunction(() => document.getElementById('wasm-text')!.textContent!.startsWith('(module'));
      assert.match((await page.textContent('#wasm-text'))!, /\(func/);
    });

    await step(page, 'pcap', async () => {
      const packets = [
        PACKET,
        buildPacket(ethernet(), ipv4({ src: '10.0.0.3', dst: '10.0.0.4' }), udp({ sport: 1, dport: 53 }), payload('x')),
        buildPacket(ethernet(), ipv6({ src: 'fd00::1', dst: 'fd00::2' }), tcp({ sport: 2, dport: 9 }), payload('y')),
        PACKET,
      ];
      const program = loadVmCollection(collectionFromInstructions({ name: 'p', section: 'xdp', instructions: assemble(CHECKED) }), { verify: false }).programs.p!;
      const retvals = program.runBatch(packets).retvals;
      const expected = { XDP_DROP: retvals.filter((r) => r === 1).length, XDP_PASS: retvals.filter((r) => r === 2).length };
      await page.selectOption('#engine', 'interpreter');
      await typeProgram(page, CHECKED);
      await page.click('#panels button[data-panel="input"]');
      await page.setInputFiles('#pcap-file', { name: 'four.pcap', mimeType: 'application/octet-stream', buffer: Buffer.from(encodeCapture(packets.map((data) => ({ data })))) });
      await page.waitForSelector('#pcap-verdicts');
      const rows = await page.locator('#pcap-verdicts tr').evaluateAll((trs) => trs.map((tr) => [tr.children[0]!.textContent, Number(tr.children[1]!.textContent)]));
      assert.deepEqual(Object.fromEntries(rows), expected);
    });
  } finally {
    await page.close();
  }
});

test('a shared link reopens the program and its input; the page works offline once loaded and fits a phone screen', needs, async () => {
  const page = await openPage();
  let link = '';
  try {
    await step(page, 'share', async () => {
      await page.selectOption('#example', 'counter');
      await page.click('#run');
      await typeProgram(page, `.map counts array key=4 value=8 entries=256\n${CHECKED}`);
      await page.click('#panels button[data-panel="input"]');
      await page.fill('#input-hex', hex(PACKET));
      await page.click('#share');
      await page.waitForFunction(() => location.hash.startsWith('#s='));
      link = page.url();
    });
  } finally {
    await page.close();
  }
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const phone = await context.newPage();
  try {
    await step(phone, 'open-shared-link', async () => {
      await phone.goto(link);
      await phone.waitForSelector('body[data-ready]');
      assert.equal(await phone.inputValue('#source'), `.map counts array key=4 value=8 entries=256\n${CHECKED}`);
      await phone.click('#run');
      assert.equal(await phone.textContent('#run-verdict'), 'XDP_DROP (r0 = 1)');
      // The map entry the counter example's run left travelled with the link.
      await phone.click('#panels button[data-panel="maps"]');
      assert.equal(await phone.locator('table[data-map="counts"] input[aria-label="counts[11000000]"]').inputValue(), '0100000000000000');
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the page is ${overflow} px wider than a 390 px screen`);
    });
    await step(phone, 'offline', async () => {
      await phone.evaluate(async () => {
        await navigator.serviceWorker.ready;
      });
      await phone.reload();
      await phone.waitForSelector('body[data-ready]');
      assert.ok(await phone.evaluate(() => navigator.serviceWorker.controller !== null), 'the service worker controls the page');
      await context.setOffline(true);
      await server.close();
      await phone.goto(link);
      await phone.waitForSelector('body[data-ready]');
      await phone.click('#verify');
      assert.match((await phone.textContent('#verdict'))!, /^accepted/);
    });
  } finally {
    await context.close();
    server = await servePlayground();
  }
});

test('the bundle: no node: modules; its gzip size', needs, () => {
  const dist = join(ROOT, 'playground', 'dist');
  const html = readFileSync(join(dist, 'index.html'), 'utf8');
  const loaded = [...html.matchAll(/(?:src|href)="\.\/(assets\/[\w.-]+)"/g)].map((m) => m[1]!);
  assert.ok(loaded.some((f) => f.endsWith('.js')) && loaded.some((f) => f.endsWith('.css')), `index.html loads ${loaded.join(', ')}`);
  const gzip = (file: string): number => gzipSync(readFileSync(join(dist, file)), { level: 9 }).length;
  const initial = gzip('index.html') + loaded.reduce((sum, f) => sum + gzip(f), 0);
  const all = readdirSync(join(dist, 'assets')).map((f) => `assets/${f}`);
  for (const file of all.filter((f) => f.endsWith('.js'))) assert.doesNotMatch(readFileSync(join(dist, file), 'utf8'), /from ["']node:|require\(["']node:/, file);
  const lazy = all.filter((f) => !loaded.includes(f)).reduce((sum, f) => sum + gzip(f), 0);
  console.log(`bundle (gzip -9): ${(initial / 1024).toFixed(1)} KiB loaded at start, ${(lazy / 1024).toFixed(1)} KiB more when the WebAssembly panel first opens`);
  assert.ok(initial < 400 * 1024, `the page loads ${initial} gzip bytes`);
});

// A compiled object: its programs and maps are listed, and the verifier's rows carry the C source lines from BTF.
const OBJECT_SOURCE = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } hits SEC(".maps");
SEC("xdp") int count_all(struct xdp_md *ctx) {
	__u32 key = 0;
	__u64 *value = bpf_map_lookup_elem(&hits, &key);
	if (value) __sync_fetch_and_add(value, 1);
	return XDP_PASS;
}
`;

test('an uploaded .o lists its programs and maps and verifies with BTF source lines; a bpftrace script runs on the VM', { ...needs, skip: needs.skip || skipWithoutClang() }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-playground-'));
  const page = await openPage();
  try {
    writeFileSync(join(dir, 'count.c'), OBJECT_SOURCE);
    const objectPath = compileBpf(join(dir, 'count.c'));
    const spec = loadCollectionSpec(new Uint8Array(readFileSync(objectPath)));
    await step(page, 'object-upload', async () => {
      await page.click('#modes button[data-mode="object"]');
      await page.setInputFiles('#object-file', objectPath);
      await page.waitForSelector('#object-summary table');
      const summary = (await page.textContent('#object-summary'))!;
      for (const name of [...Object.keys(spec.programs), ...Object.keys(spec.maps)]) assert.ok(summary.includes(name), `${name} in ${summary}`);
      await page.click('#verify');
      const node = verify(spec.programs.count_all!, { maps: spec.maps, logLevel: 2 });
      assert.match((await page.textContent('#verdict'))!, new RegExp(`^accepted: ${node.processedInsns} instructions processed`));
      const sources = await page.locator('#insns .source-line').allTextContents();
      assert.ok(sources.some((s) => s.includes('bpf_map_lookup_elem(&hits, &key)')), sources.join('\n'));
      await page.click('#run');
      assert.equal(await page.textContent('#run-verdict'), 'XDP_PASS (r0 = 2)');
    });
    await step(page, 'bpftrace', async () => {
      await page.selectOption('#example', 'trace');
      const script = await page.inputValue('#source');
      let expected = '';
      await runInVm(compileScript(script, { startNs: 0n }), { write: (t) => void (expected += t), format: 'text', durationMs: 5000 });
      await page.click('#run');
      await page.waitForFunction(() => document.getElementById('status')!.textContent === 'script finished');
      assert.equal(await page.textContent('#output'), expected);
      assert.match(expected, /done after 5 ticks/);
    });
  } finally {
    await page.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
