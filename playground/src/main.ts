/** The playground page: wires the editor, panels and buttons to engine.ts. */
import type { CollectionSpec } from 'tsbpf/object';
import type { VmCollection } from 'tsbpf/vm';
import type { VerifyResult } from 'tsbpf/verifier';
import { uapi } from 'tsbpf';
import { Editor } from './editor.ts';
import {
  type RecordedStep,
  type Recording,
  PlaygroundError,
  assemblySpec,
  hex,
  jitModule,
  listing,
  loadCollection,
  objectSpec,
  parseHex,
  recordRun,
  runCapture,
  runProgram,
  snapshotMaps,
  sourceLineOf,
  summarize,
  verifyProgram,
} from './engine.ts';
import { DEFAULT_PACKET, EXAMPLES, type PacketForm } from './examples.ts';
import { buildFormPacket } from './packet.ts';
import { type SharedState, decodeState, encodeState } from './share.ts';
import { runTrace } from './trace.ts';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;
const el = (tag: string, text = '', className = ''): HTMLElement => {
  const e = document.createElement(tag);
  e.textContent = text;
  if (className) e.className = className;
  return e;
};

type Mode = 'asm' | 'object' | 'trace';

const state = {
  mode: 'asm' as Mode,
  spec: undefined as CollectionSpec | undefined,
  specKey: '',
  objectBytes: undefined as Uint8Array | undefined,
  collection: undefined as VmCollection | undefined,
  collectionJit: false,
  verify: undefined as VerifyResult | undefined,
  recording: undefined as Recording | undefined,
  step: 0,
};

const editor = new Editor($('source') as HTMLTextAreaElement, $('highlight'), $('problems'), () => invalidate());
const status = (text: string): void => void ($('status').textContent = text);
const engine = (): 'interpreter' | 'jit' => ($('engine') as HTMLSelectElement).value as 'interpreter' | 'jit';
const programName = (): string => ($('program') as HTMLSelectElement).value || 'prog';

function showPanel(name: string): void {
  for (const b of $('panels').querySelectorAll('button')) b.classList.toggle('active', b.dataset.panel === name);
  for (const p of document.querySelectorAll<HTMLElement>('.panel')) p.hidden = p.id !== `panel-${name}`;
}

function setMode(mode: Mode): void {
  state.mode = mode;
  for (const b of $('modes').querySelectorAll('button')) b.classList.toggle('active', b.dataset.mode === mode);
  $('object-pane').hidden = mode !== 'object';
  $('editor-box').hidden = mode === 'object';
  $('program-label').hidden = mode !== 'object';
  editor.language = mode === 'trace' ? 'trace' : 'asm';
  editor.render();
  invalidate();
}

/** The source changed: the spec, collection and results are rebuilt on next use. */
function invalidate(): void {
  state.spec = undefined;
  state.recording = undefined;
}

/** The collection spec of the current source; problems go to the editor. */
function currentSpec(): CollectionSpec {
  if (state.spec !== undefined) return state.spec;
  const section = ($('section') as HTMLInputElement).value.trim();
  if (state.mode === 'object') {
    if (state.objectBytes === undefined) throw new PlaygroundError('upload a compiled BPF object (.o) first');
    state.spec = objectSpec(state.objectBytes);
  } else if (state.mode === 'asm') {
    try {
      state.spec = assemblySpec(editor.value, section, ($('syntax') as HTMLSelectElement).value as 'auto' | 'llvm' | 'ubpf');
    } catch (error) {
      if (error instanceof PlaygroundError) editor.setProblems(error.problems);
      throw error;
    }
  } else {
    throw new PlaygroundError('a bpftrace script runs with Run; its programs are then verified with Verify');
  }
  editor.setProblems([]);
  const key = JSON.stringify(Object.values(state.spec.maps).map((m) => [m.name, m.type, m.keySize, m.valueSize, m.maxEntries]));
  // Maps survive edits of the code when their definitions are unchanged, as pinned maps would.
  const previous = state.collection;
  state.collection = undefined;
  if (key === state.specKey && previous !== undefined) pendingMaps = snapshotMaps(previous).map((m) => ({ name: m.name, entries: m.entries }));
  previous?.close();
  state.specKey = key;
  return state.spec;
}

let pendingMaps: { name: string; entries: [string, string][] }[] | undefined;

function currentCollection(): VmCollection {
  const spec = currentSpec();
  const jit = engine() === 'jit';
  if (state.collection !== undefined && state.collectionJit === jit) return state.collection;
  const previous = state.collection;
  const collection = loadCollection(spec, { jit });
  const carried = previous !== undefined ? snapshotMaps(previous) : pendingMaps;
  pendingMaps = undefined;
  for (const m of carried ?? []) for (const [k, v] of m.entries) collection.maps[m.name]?.update(parseHex(k), parseHex(v));
  previous?.close();
  state.collection = collection;
  state.collectionJit = jit;
  return collection;
}

function report(error: unknown, where: HTMLElement): void {
  const message = error instanceof Error ? error.message : String(error);
  where.replaceChildren(el('div', message, 'error'));
  status(message.split('\n')[0]!);
}

// ---- Verify -----------------------------------------------------------------

function verifyNow(): void {
  showPanel('verifier');
  try {
    if (state.mode === 'trace' && state.spec === undefined) throw new PlaygroundError('run the script first (Run): its compiled programs are verified here');
    const spec = currentSpec();
    const name = programName() in spec.programs ? programName() : Object.keys(spec.programs)[0]!;
    const result = verifyProgram(spec, name);
    state.verify = result;
    renderVerify(spec, name, result);
    status(result.accepted ? `verified: accepted (${result.processedInsns} insns processed)` : `verified: rejected at insn ${result.error!.insnIndex}`);
  } catch (error) {
    report(error, $('verdict'));
    $('explanation').textContent = '';
  }
}

function renderVerify(spec: CollectionSpec, name: string, result: VerifyResult): void {
  const program = spec.programs[name]!;
  const verdict = $('verdict');
  verdict.className = result.accepted ? 'accepted' : 'rejected';
  verdict.textContent = result.accepted
    ? `accepted: ${result.processedInsns} instructions processed, ${result.totalStates} states, stack depth ${result.stackDepth.join('+')}`
    : `rejected at instruction ${result.error!.insnIndex}: ${result.error!.message.split('\n').at(-1)}`;
  const explanation = $('explanation');
  explanation.textContent = '';
  const lines = listing(program);
  if (result.error !== undefined) {
    const e = result.error.explanation;
    // Without BTF line info the path is instruction numbers: show each with its instruction.
    const path = e.path.map((p) => p.replace(/^insn (\d+)$/, (whole, n: string) => (lines[Number(n)] ? `insn ${n}: ${lines[Number(n)]}` : whole)));
    explanation.textContent = `why: ${e.summary}\n${path.length > 0 ? `path:\n${path.map((p) => `  ${p}`).join('\n')}\n` : ''}fix: ${e.fix}`;
  }
  $('log').textContent = result.log;
  const states = new Map((result.states ?? []).map((s) => [s.insnIndex, s]));
  const body = $('insns').querySelector('tbody')!;
  body.replaceChildren();
  let lastSource = '';
  lines.forEach((text, index) => {
    if (text === '') return;
    const source = sourceLineOf(program, index);
    if (source !== undefined && source !== lastSource) {
      const row = el('tr');
      const cell = el('td', source, 'source-line');
      (cell as HTMLTableCellElement).colSpan = 3;
      row.append(cell);
      body.append(row);
      lastSource = source;
    }
    const entry = states.get(index);
    const row = el('tr');
    row.dataset.insn = String(index);
    if (result.error?.insnIndex === index) row.classList.add('failed');
    if (entry === undefined) row.classList.add('unreached');
    const first = entry?.paths[0];
    const frame = first?.frames.at(-1);
    const summary = frame === undefined ? 'not reached' : [...frame.registers.map((r) => `R${r.regno}=${r.text}`), ...frame.stack.map((s) => `fp${s.offset}=${s.spilled !== undefined ? s.spilled.text : s.kinds}`)].join(' ');
    row.append(el('td', String(index)), el('td', text), el('td', `${summary}${entry && entry.paths.length > 1 ? `  (+${entry.paths.length - 1} paths)` : ''}`));
    row.addEventListener('click', () => showPaths(index));
    body.append(row);
  });
  showPaths(result.error?.insnIndex ?? 0);
}

function showPaths(index: number): void {
  for (const row of $('insns').querySelectorAll<HTMLElement>('tbody tr')) row.classList.toggle('selected', row.dataset.insn === String(index));
  const entry = state.verify?.states?.find((s) => s.insnIndex === index);
  const box = $('paths');
  box.replaceChildren(el('h3', `instruction ${index}: ${entry === undefined ? 'no path reached it' : `${entry.paths.length} path${entry.paths.length === 1 ? '' : 's'} reached it${entry.dropped ? ` (+${entry.dropped} not kept)` : ''}`}`));
  entry?.paths.forEach((path, n) => {
    const block = el('div', '', 'path');
    block.append(el('h3', `path ${n + 1}: from ${path.from < 0 ? 'entry' : `insn ${path.from}`}`));
    for (const frame of path.frames) {
      const table = el('table');
      if (path.frames.length > 1) table.append(el('caption', `frame ${frame.frameno}`));
      for (const r of frame.registers) {
        const row = el('tr');
        row.append(el('td', `R${r.regno}`), el('td', r.text), el('td', r.type === 'scalar' && r.value === undefined ? `[${r.smin}, ${r.smax}] u[${r.umin}, ${r.umax}]` : ''));
        table.append(row);
      }
      for (const s of frame.stack) {
        const row = el('tr');
        row.append(el('td', `fp${s.offset}`), el('td', s.spilled !== undefined ? `${s.kinds} ${s.spilled.text}` : s.kinds), el('td', ''));
        table.append(row);
      }
      block.append(table);
    }
    box.append(block);
  });
}

// ---- Input and Run ------------------------------------------------------------

const form = $('packet-form') as HTMLFieldSetElement;
function readForm(): PacketForm {
  const value = (name: string): string => (form.querySelector(`[name=${name}]`) as HTMLInputElement).value;
  return { l3: value('l3') as 'ipv4' | 'ipv6', l4: value('l4') as 'udp' | 'tcp', srcMac: value('srcMac'), dstMac: value('dstMac'), src: value('src'), dst: value('dst'), sport: Number(value('sport')), dport: Number(value('dport')), ttl: Number(value('ttl')), tcpFlags: Number(value('tcpFlags')), payload: value('payload') };
}
function writeForm(packet: PacketForm): void {
  for (const [k, v] of Object.entries(packet)) (form.querySelector(`[name=${k}]`) as HTMLInputElement).value = String(v);
}

const hexLines = (bytes: Uint8Array, changed?: Uint8Array): string =>
  Array.from({ length: Math.ceil(bytes.length / 16) }, (_, row) => {
    const cells = Array.from(bytes.subarray(row * 16, row * 16 + 16), (b, i) => {
      const text = b.toString(16).padStart(2, '0');
      return changed !== undefined && changed[row * 16 + i] !== b ? `<span class="changed">${text}</span>` : text;
    });
    return `${(row * 16).toString(16).padStart(4, '0')}  ${cells.join(' ')}`;
  }).join('\n');

/** The program type's input: a frame for packet programs, the context's bytes for others. */
function isPacketProgram(spec: CollectionSpec): boolean {
  const type = spec.programs[programName()]?.type ?? Object.values(spec.programs)[0]?.type ?? 0;
  const t = uapi.programTypeSpec(type);
  return t?.testRunContext !== undefined || t?.packetAccess === true || t?.name === 'socket_filter';
}

function currentInput(spec: CollectionSpec): { data?: Uint8Array; ctx?: Uint8Array } {
  const bytes = parseHex(($('input-hex') as HTMLTextAreaElement).value);
  return isPacketProgram(spec) ? { data: bytes } : { ctx: bytes };
}

/** Most context bytes the input box is prefilled with for program types without packets. */
const MAX_PREFILLED_CONTEXT = 256;

/** Shows the input the program type takes; `prefill` (on a change of section) puts a zeroed context in the box. */
function updateInputLabel(prefill: boolean): void {
  try {
    const spec = state.mode === 'trace' ? undefined : currentSpec();
    const packet = spec === undefined || isPacketProgram(spec);
    $('input-label').textContent = packet ? 'packet (hex), from the Ethernet header' : 'context (hex): the bytes r1 points to';
    form.hidden = !packet;
    if (!prefill || spec === undefined || packet) return;
    // A context of the program type's size, zeroed, unless the box already holds one of that size.
    const type = uapi.programTypeSpec((spec.programs[programName()] ?? Object.values(spec.programs)[0])!.type);
    const size = Math.min(type?.contextSize ?? 0, MAX_PREFILLED_CONTEXT);
    const box = $('input-hex') as HTMLTextAreaElement;
    if (size > 0 && box.value.replace(/\s/g, '').length !== size * 2) box.value = '00'.repeat(size).replace(/(.{32})/g, '$1\n').trim();
  } catch {
    // the editor shows the problem
  }
}

async function runNow(): Promise<void> {
  if (state.mode === 'trace') return runScript();
  showPanel('input');
  const out = $('run-result');
  try {
    const spec = currentSpec();
    updateInputLabel(false);
    const collection = currentCollection();
    const name = programName() in collection.programs ? programName() : Object.keys(collection.programs)[0]!;
    const input = currentInput(spec);
    const result = runProgram(collection, name, input, engine() === 'jit');
    out.replaceChildren();
    const verdict = el('div', `${result.verdict} (r0 = ${result.retval})`, 'verdict-ok');
    verdict.id = 'run-verdict';
    const timing = el('div', `${engine()}: ${Number.isNaN(result.durationNs) ? '?' : result.durationNs} ns per run (mean of 1000), ${result.instructions} instructions executed`);
    timing.id = 'run-timing';
    out.append(verdict, timing);
    const before = input.data ?? input.ctx!;
    const after = result.data ?? result.ctx;
    if (after !== undefined) {
      const pre = el('pre');
      pre.innerHTML = hexLines(after, before);
      out.append(el('h3', after.length === before.length && after.every((b, i) => b === before[i]) ? 'data after the run (unchanged)' : 'data after the run (changes highlighted)'), pre);
    }
    if (result.trace.length > 0) out.append(el('h3', 'bpf_trace_printk'), el('pre', result.trace.join('\n')));
    if (state.verify !== undefined && !state.verify.accepted) out.append(el('p', 'The verifier rejected this program: it ran anyway, with every access checked by the VM.', 'hint'));
    renderMaps();
    await renderWasm();
    status(`ran: ${result.verdict}`);
  } catch (error) {
    report(error, out);
  }
}

async function runScript(): Promise<void> {
  showPanel('output');
  status('running the script…');
  const outcome = await runTrace(editor.value, { jit: engine() === 'jit' });
  editor.setProblems(outcome.problems);
  $('output').textContent = outcome.output + (outcome.error !== undefined ? `\n${outcome.error}` : '');
  if (outcome.spec !== undefined) {
    state.spec = outcome.spec;
    fillPrograms(outcome.spec);
  }
  status(outcome.error === undefined ? 'script finished' : 'script failed');
}

async function runPcap(file: File): Promise<void> {
  const out = $('pcap-result');
  try {
    const collection = currentCollection();
    const name = programName() in collection.programs ? programName() : Object.keys(collection.programs)[0]!;
    const result = await runCapture(collection, name, new Uint8Array(await file.arrayBuffer()));
    const table = el('table');
    table.id = 'pcap-verdicts';
    for (const [verdict, count] of Object.entries(result.verdicts)) {
      const row = el('tr');
      row.append(el('td', verdict), el('td', String(count)));
      table.append(row);
    }
    out.replaceChildren(el('div', `${result.packets} packets${result.refused ? `, ${result.refused} refused by the test run` : ''}, ${(result.durationNs / 1e6).toFixed(2)} ms`), table);
    renderMaps();
  } catch (error) {
    report(error, out);
  }
}

// ---- Step ----------------------------------------------------------------------

function recordNow(): void {
  showPanel('step');
  try {
    const spec = currentSpec();
    const collection = currentCollection();
    const name = programName() in collection.programs ? programName() : Object.keys(collection.programs)[0]!;
    state.recording = recordRun(collection, name, currentInput(spec));
    state.step = 0;
    const slider = $('step-slider') as HTMLInputElement;
    slider.max = String(Math.max(0, state.recording.steps.length - 1));
    renderStep();
    status(`recorded ${state.recording.steps.length} steps`);
  } catch (error) {
    report(error, $('step-info'));
  }
}

function moveStep(to: number): void {
  const recording = state.recording;
  if (recording === undefined) return;
  state.step = Math.max(0, Math.min(recording.steps.length - 1, to));
  renderStep();
}

function renderStep(): void {
  const recording = state.recording!;
  const step = recording.steps[state.step];
  ($('step-slider') as HTMLInputElement).value = String(state.step);
  if (step === undefined) {
    $('step-info').textContent = recording.error ?? 'nothing was executed';
    return;
  }
  const prev: RecordedStep | undefined = recording.steps[state.step - 1];
  const spec = state.collection!.spec;
  const program = spec.programs[programName()] ?? Object.values(spec.programs)[0]!;
  const insn = listing(program)[step.pc] ?? '';
  const end = state.step === recording.steps.length - 1 ? (recording.error !== undefined ? `, then: ${recording.error}` : recording.truncated ? ', recording truncated' : `, then exit with r0 = ${recording.retval}`) : '';
  const info = $('step-info');
  info.textContent = `step ${state.step + 1} / ${recording.steps.length}: ${step.executed} instructions executed so far; next: ${step.pc}: ${insn}${step.depth > 0 ? ` (call depth ${step.depth})` : ''}${end}`;
  const regs = $('step-regs');
  regs.replaceChildren();
  step.registers.forEach((value, n) => {
    const row = el('tr');
    row.dataset.reg = String(n);
    const changed = prev !== undefined && prev.registers[n] !== value;
    row.append(el('td', `r${n}`), el('td', `0x${value.toString(16)}`, changed ? 'changed' : ''), el('td', BigInt.asIntN(64, value).toString(), changed ? 'changed' : ''));
    regs.append(row);
  });
  const stackLines: string[] = [];
  for (let off = 0; off < step.stack.length; off += 8) {
    const slot = step.stack.subarray(off, off + 8);
    if (slot.every((b) => b === 0) && !(prev && prev.stack.subarray(off, off + 8).some((b) => b !== 0))) continue;
    const changed = prev !== undefined && prev.stack.subarray(off, off + 8).some((b, i) => b !== slot[i]);
    stackLines.push(`${changed ? '<span class="changed">' : ''}fp-${(step.stack.length - off).toString().padEnd(3)} ${hex(slot)}${changed ? '</span>' : ''}`);
  }
  $('step-stack').innerHTML = stackLines.join('\n') || '(all zero)';
  $('step-data').innerHTML = hexLines(step.data, prev?.data);
  const maps = $('step-maps');
  maps.replaceChildren();
  for (const m of step.maps) {
    const before = new Map(prev?.maps.find((p) => p.name === m.name)?.entries ?? []);
    const nonZero = m.entries.filter(([k, v]) => /[^0]/.test(v) || before.get(k) !== v);
    const pre = el('pre');
    pre.innerHTML = nonZero.map(([k, v]) => (prev !== undefined && before.get(k) !== v ? `<span class="changed">${k}: ${v}</span>` : `${k}: ${v}`)).join('\n') || '(all values zero)';
    maps.append(el('h3', `map ${m.name} (non-zero entries)`), pre);
  }
}

// ---- Maps ---------------------------------------------------------------------

function renderMaps(): void {
  const box = $('map-tables');
  box.replaceChildren();
  const collection = state.collection;
  if (collection === undefined) return;
  for (const m of snapshotMaps(collection)) {
    const map = collection.maps[m.name]!;
    const table = el('table', '', 'map-table');
    table.dataset.map = m.name;
    table.append(el('caption', `${m.name}: key ${m.keySize} B, value ${m.valueSize} B, ${m.entries.length} entries`));
    for (const [k, v] of m.entries) {
      const row = el('tr');
      const input = document.createElement('input');
      input.value = v;
      input.setAttribute('aria-label', `${m.name}[${k}]`);
      input.addEventListener('change', () => {
        try {
          const value = parseHex(input.value);
          if (value.length !== map.valueBufferSize) throw new PlaygroundError(`a value of ${m.name} is ${map.valueBufferSize} bytes (${map.valueBufferSize * 2} hex digits), got ${value.length}`);
          map.update(parseHex(k), value);
          input.classList.remove('error');
          status(`${m.name}[${k}] updated`);
        } catch (error) {
          input.classList.add('error');
          status(error instanceof Error ? error.message : String(error));
        }
      });
      const valueCell = el('td');
      valueCell.append(input);
      row.append(el('td', k), valueCell);
      table.append(row);
    }
    if (map.type === uapi.MapType.HASH || map.type === uapi.MapType.LRU_HASH) {
      const row = el('tr');
      const key = document.createElement('input');
      key.placeholder = 'new key (hex)';
      const value = document.createElement('input');
      value.placeholder = 'value (hex), Enter';
      value.addEventListener('change', () => {
        try {
          map.update(parseHex(key.value), parseHex(value.value));
          renderMaps();
        } catch (error) {
          status(error instanceof Error ? error.message : String(error));
        }
      });
      const kc = el('td');
      kc.append(key);
      const vc = el('td');
      vc.append(value);
      row.append(kc, vc);
      table.append(row);
    }
    box.append(table);
  }
}

// ---- WebAssembly ------------------------------------------------------------------

async function renderWasm(): Promise<void> {
  const info = $('wasm-info');
  const text = $('wasm-text');
  const collection = state.collection;
  const program = collection?.programs[programName()] ?? Object.values(collection?.programs ?? {})[0];
  const bytes = program !== undefined ? jitModule(program) : undefined;
  if (bytes === undefined) {
    info.textContent = 'Choose the JIT engine and Run to see the WebAssembly module the JIT produced.';
    text.textContent = '';
    return;
  }
  info.textContent = `module: ${bytes.length} bytes`;
  try {
    const { wasmToText } = await import('./wasm-text.ts');
    text.textContent = await wasmToText(bytes);
  } catch (error) {
    report(error, text);
  }
}

// ---- Objects, examples, sharing ------------------------------------------------------

function fillPrograms(spec: CollectionSpec): void {
  const select = $('program') as HTMLSelectElement;
  select.replaceChildren(...Object.keys(spec.programs).map((name) => new Option(name, name)));
  $('program-label').hidden = Object.keys(spec.programs).length <= 1 && state.mode !== 'object';
}

async function loadObject(file: File): Promise<void> {
  state.objectBytes = new Uint8Array(await file.arrayBuffer());
  invalidate();
  const box = $('object-summary');
  try {
    const spec = currentSpec();
    const summary = summarize(spec);
    fillPrograms(spec);
    const programs = el('table');
    programs.append(el('caption', `${file.name}: programs`));
    for (const p of summary.programs) {
      const row = el('tr');
      row.append(el('td', p.name), el('td', p.section), el('td', p.type), el('td', `${p.instructions} insns`));
      programs.append(row);
    }
    const maps = el('table');
    maps.append(el('caption', 'maps'));
    for (const m of summary.maps) {
      const row = el('tr');
      row.append(el('td', m.name), el('td', m.type), el('td', `key ${m.keySize}`), el('td', `value ${m.valueSize}`), el('td', `${m.maxEntries} entries`));
      maps.append(row);
    }
    box.replaceChildren(programs, maps);
    status(`${file.name}: ${summary.programs.length} programs, ${summary.maps.length} maps`);
  } catch (error) {
    report(error, box);
  }
}

function loadExample(id: string): void {
  const example = EXAMPLES.find((e) => e.id === id);
  if (example === undefined) return;
  setMode(example.mode);
  ($('section') as HTMLInputElement).value = example.section;
  editor.value = example.source;
  state.collection?.close();
  state.collection = undefined;
  state.verify = undefined;
  invalidate();
  writeForm(example.packet ?? DEFAULT_PACKET);
  buildPacketNow();
}

function buildPacketNow(): void {
  try {
    ($('input-hex') as HTMLTextAreaElement).value = hex(buildFormPacket(readForm())).replace(/(.{32})/g, '$1\n').trim();
  } catch (error) {
    status(error instanceof Error ? error.message : String(error));
  }
}

async function share(): Promise<void> {
  if (state.mode === 'object') {
    status('uploaded objects are not put in links (they can be megabytes): share assembly or a script');
    return;
  }
  const shared: SharedState = {
    mode: state.mode,
    source: editor.value,
    section: ($('section') as HTMLInputElement).value,
    syntax: ($('syntax') as HTMLSelectElement).value as SharedState['syntax'],
    input: ($('input-hex') as HTMLTextAreaElement).value.replace(/\s/g, ''),
    engine: engine(),
    maps: Object.fromEntries((state.collection ? snapshotMaps(state.collection) : []).map((m) => [m.name, m.entries.filter(([, v]) => /[^0]/.test(v))])),
  };
  const hash = await encodeState(shared);
  history.replaceState(null, '', hash);
  const link = location.href;
  try {
    await navigator.clipboard.writeText(link);
    status(`link copied (${link.length} characters)`);
  } catch {
    status(`link in the address bar (${link.length} characters)`);
  }
}

async function openShared(): Promise<boolean> {
  const shared = await decodeState(location.hash);
  if (shared === undefined) return false;
  setMode(shared.mode);
  ($('section') as HTMLInputElement).value = shared.section;
  ($('syntax') as HTMLSelectElement).value = shared.syntax;
  ($('engine') as HTMLSelectElement).value = shared.engine;
  editor.value = shared.source;
  ($('input-hex') as HTMLTextAreaElement).value = shared.input;
  pendingMaps = Object.entries(shared.maps ?? {}).map(([name, entries]) => ({ name, entries }));
  state.specKey = '';
  return true;
}

// ---- start ---------------------------------------------------------------------

async function start(): Promise<void> {
  const select = $('example') as HTMLSelectElement;
  select.append(...EXAMPLES.map((e) => new Option(e.title, e.id)));
  select.addEventListener('change', () => loadExample(select.value));
  for (const b of $('modes').querySelectorAll('button')) b.addEventListener('click', () => setMode(b.dataset.mode as Mode));
  for (const b of $('panels').querySelectorAll('button')) b.addEventListener('click', () => showPanel(b.dataset.panel!));
  $('verify').addEventListener('click', verifyNow);
  $('run').addEventListener('click', () => void runNow());
  $('record').addEventListener('click', recordNow);
  $('share').addEventListener('click', () => void share());
  $('build-packet').addEventListener('click', buildPacketNow);
  $('step-first').addEventListener('click', () => moveStep(0));
  $('step-back').addEventListener('click', () => moveStep(state.step - 1));
  $('step-forward').addEventListener('click', () => moveStep(state.step + 1));
  $('step-last').addEventListener('click', () => moveStep(Infinity));
  $('step-slider').addEventListener('input', (e) => moveStep(Number((e.target as HTMLInputElement).value)));
  $('reset-maps').addEventListener('click', () => {
    state.collection?.close();
    state.collection = undefined;
    pendingMaps = undefined;
    try {
      currentCollection();
    } catch (error) {
      status(error instanceof Error ? error.message : String(error));
    }
    renderMaps();
  });
  for (const id of ['section', 'syntax']) {
    $(id).addEventListener('change', () => {
      invalidate();
      updateInputLabel(true);
    });
  }
  ($('object-file') as HTMLInputElement).addEventListener('change', (e) => {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (file !== undefined) void loadObject(file);
  });
  ($('pcap-file') as HTMLInputElement).addEventListener('change', (e) => {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (file !== undefined) void runPcap(file);
  });
  $('program').addEventListener('change', () => (state.recording = undefined));
  document.addEventListener('keydown', (e) => {
    if (state.recording === undefined || $('panel-step').hidden || document.activeElement?.tagName === 'TEXTAREA' || document.activeElement?.tagName === 'INPUT') return;
    if (e.key === 'ArrowRight') moveStep(state.step + 1);
    if (e.key === 'ArrowLeft') moveStep(state.step - 1);
  });
  try {
    if (!(await openShared())) loadExample(EXAMPLES[0]!.id);
  } catch (error) {
    loadExample(EXAMPLES[0]!.id);
    status(error instanceof Error ? error.message : String(error));
  }
  if ('serviceWorker' in navigator && location.protocol !== 'file:' && import.meta.env.PROD) void navigator.serviceWorker.register('./sw.js').catch(() => undefined);
  document.body.dataset.ready = String(performance.now());
}

void start();
