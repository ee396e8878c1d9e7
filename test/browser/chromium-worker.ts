// Runs in a Web Worker of the Chromium test: the JIT compiles the big program here.
import { uapi, vm } from '../../src/browser.ts';
import { bigProgram } from './big-program.ts';

const program = new vm.VmProgram(uapi.ProgramType.SOCKET_FILTER, bigProgram(), { jit: true });
const result = program.run({ data: new Uint8Array(64) });
postMessage({ engine: program.engine, retval: result.retval, moduleBytes: (program.loaded as vm.JitProgram).stats.moduleBytes });
