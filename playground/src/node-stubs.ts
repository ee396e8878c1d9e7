// Stand-ins for the node: modules the trace front end imports for probes
// that need a kernel (tracefs formats, symbols, system()). The playground
// runs only BEGIN, END and interval probes, which never reach them; if one
// does, it fails with a clear error instead of a missing module.
import { HostUnavailableError } from 'tsbpf';

const unavailable = (what: string) => (): never => {
  throw new HostUnavailableError(what, 'the playground runs BEGIN, END and interval probes only: use them');
};

export const existsSync = (): boolean => false;
export const readdirSync = unavailable('listing tracefs');
export const statSync = unavailable('reading a file');
export const readFileSync = unavailable('reading a file');
export const execFileSync = unavailable('system()');
export const delimiter = ':';
export const openSync = unavailable('opening a file');
export const readSync = unavailable('reading a file');
export const writeSync = unavailable('writing a file');
export const closeSync = unavailable('closing a file');
export const fstatSync = unavailable('reading a file');
export const statfsSync = unavailable('reading a file system');
export const writeFileSync = unavailable('writing a file');
export const mkdirSync = unavailable('creating a directory');
export const renameSync = unavailable('renaming a file');
export const rmSync = unavailable('removing a file');
export const watch = unavailable('watching a file');
export const constants = {};
export const spawn = unavailable('starting a process');
export const join = unavailable('file paths');
export const resolve = unavailable('file paths');
export const dirname = unavailable('file paths');
export const basename = unavailable('file paths');
export const extname = unavailable('file paths');
export const normalize = unavailable('file paths');
export const sep = '/';
