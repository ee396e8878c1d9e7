// The Chromium test's page whose Content-Security-Policy forbids compiling
// WebAssembly: the JIT's error names the directive, the interpreter runs.
import { isa, uapi, vm } from '../../src/browser.ts';

const program = isa.assemble('r0 = 42\nexit');
let jit: { name: string; message: string } = { name: 'none', message: '' };
try {
  new vm.VmProgram(uapi.ProgramType.SOCKET_FILTER, program, { jit: true });
} catch (error) {
  jit = { name: (error as Error).name, message: (error as Error).message };
}
const interpreter = new vm.VmProgram(uapi.ProgramType.SOCKET_FILTER, program).run({ data: new Uint8Array(64) }).retval;
(globalThis as { tsbpfCsp?: unknown }).tsbpfCsp = { jit, interpreter };
