// What the Chromium test runs in a real page (bundled by chromium.test.ts
// through the package's browser entry): the VM page of page.ts, the errors
// a page meets (files, the kernel backend, the JIT refused on the main
// thread or by a CSP), typed maps and generated-bindings runtime, and the
// JIT in a Web Worker. Results go to globalThis.tsbpfChromium.
import './page.ts';
import { HostUnavailableError, backend, gen, loadCollectionSpec, uapi, vm } from '../../src/browser.ts';
import { bigProgram } from './big-program.ts';

interface Inputs {
  /** The events.c fixture, base64. */
  eventsObject: string;
  /** The worker bundle's source. */
  workerSource: string;
}

const errorOf = (body: () => unknown): { name: string; message: string; cause?: string } => {
  try {
    body();
    return { name: 'none', message: '' };
  } catch (error) {
    const e = error as Error;
    return { name: e.name, message: e.message, ...(e.cause instanceof Error ? { cause: e.cause.name } : {}) };
  }
};

async function run(inputs: Inputs): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { page: JSON.parse((globalThis as { tsbpfPageResults?: string }).tsbpfPageResults!) };
  const file = errorOf(() => loadCollectionSpec('/tmp/prog.o'));
  out.fileAccess = { ...file, isHostUnavailable: (() => { try { loadCollectionSpec('/tmp/prog.o'); } catch (e) { return e instanceof HostUnavailableError; } return false; })() };
  out.kernelBackend = await gen.openSkeleton(inputs.eventsObject, { backend: 'kernel' }).then(() => 'loaded', (e: Error) => `${e.name}: ${e.message}`);

  // Generated-bindings runtime and typed maps on the VM backend.
  const skeleton = await gen.openSkeleton(inputs.eventsObject, { backend: 'vm' });
  const collection = skeleton.collection();
  collection.programs.record!.run({ data: new Uint8Array(64) });
  collection.programs.record!.run({ data: new Uint8Array(64) });
  const events = skeleton.ringbuf<{ filename: string; seq: number }>('events', collection.spec.btf!.findByName('event', 'struct')[0]!.id);
  const received: Array<{ filename: string; seq: number }> = [];
  events.poll((e) => received.push(e));
  out.events = received.map((e) => `${e.seq}:${e.filename}`);
  out.bss = backend.typedSpecMap(collection.spec, '.bss', collection.maps['.bss']!).get(0);
  skeleton.close();

  // The big program: refused on the main thread with the advice, compiled in a Worker.
  out.mainThreadJit = errorOf(() => new vm.VmProgram(uapi.ProgramType.SOCKET_FILTER, bigProgram(), { jit: true }));
  const worker = new Worker(URL.createObjectURL(new Blob([inputs.workerSource], { type: 'text/javascript' })));
  out.worker = await new Promise((resolve, reject) => {
    worker.onmessage = (message) => resolve(message.data);
    worker.onerror = (error) => reject(new Error(error.message));
  });
  worker.terminate();
  return out;
}

(globalThis as { tsbpfChromium?: unknown }).tsbpfChromium = { run };
