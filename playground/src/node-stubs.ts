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
