/**
 * cgroup_path(): a cgroup id back to its path, as bpftrace resolves it when
 * the value is printed. A cgroup's id is the inode number of its directory
 * in the hierarchy; every cgroup v2 mount is searched (named `unified`),
 * then the v1 hierarchies by their directory name, sorted. The result is
 * `unified:/system.slice/x.service`, several hierarchies joined with `,`.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';

/** Mounted cgroup hierarchies from /proc/mounts: [name, mount point], cgroup2 first. */
function hierarchies(mounts: string): [string, string][] {
  const v2: [string, string][] = [];
  const v1: [string, string][] = [];
  for (const line of mounts.split('\n')) {
    const [type, point] = line.split(' ');
    if (point === undefined) continue;
    if (line.startsWith('cgroup2 ')) v2.push(['unified', point]);
    else if (type === 'cgroup') v1.push([point.slice(point.lastIndexOf('/') + 1), point]);
  }
  v1.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return [...v2, ...v1];
}

/** bpftrace's wildcard filter on hierarchy names: `*` matches any run of characters. */
function matches(name: string, filter: string): boolean {
  const pattern = filter.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${pattern}$`).test(name);
}

/** Directories below `root` are searched breadth-first, at most this many (a hierarchy is rarely larger). */
const MAX_DIRECTORIES = 100_000;

function findInode(root: string, inode: bigint): string | undefined {
  const queue = [''];
  for (let visited = 0; queue.length > 0 && visited < MAX_DIRECTORIES; visited++) {
    const relative = queue.shift()!;
    const path = root + relative;
    let stat;
    try {
      stat = statSync(path, { bigint: true });
    } catch {
      continue;
    }
    if (stat.ino === inode) return relative === '' ? '/' : relative;
    let entries;
    try {
      entries = readdirSync(path, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) if (entry.isDirectory()) queue.push(`${relative}/${entry.name}`);
  }
  return undefined;
}

/** Resolves cgroup ids to paths; answers are cached per (id, filter) while the directory still has that inode. */
export class CgroupPaths {
  readonly #cache = new Map<string, string>();

  constructor(private readonly mountsFile = '/proc/mounts') {}

  path(id: bigint, filter: string): string {
    const key = `${id}:${filter}`;
    const cached = this.#cache.get(key);
    if (cached !== undefined) return cached;
    let mounts = '';
    try {
      mounts = readFileSync(this.mountsFile, 'utf8');
    } catch {
      return '';
    }
    const found: string[] = [];
    for (const [name, root] of hierarchies(mounts)) {
      if (!matches(name, filter)) continue;
      const path = findInode(root, id);
      if (path !== undefined) found.push(`${name}:${path}`);
    }
    const text = found.join(',');
    if (text !== '') this.#cache.set(key, text);
    return text;
  }
}
