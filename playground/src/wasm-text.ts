/** The JIT's module as WebAssembly text, with wabt's JavaScript build (loaded only when the panel needs it). */
import wabtInit from 'wabt';

let wabt: ReturnType<typeof wabtInit> | undefined;

export async function wasmToText(bytes: Uint8Array): Promise<string> {
  wabt ??= wabtInit();
  const module = (await wabt).readWasm(bytes, { readDebugNames: true, multi_value: true, bulk_memory: true });
  try {
    return module.toText({ foldExprs: false, inlineExport: false });
  } finally {
    module.destroy();
  }
}
