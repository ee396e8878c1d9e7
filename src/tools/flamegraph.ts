/**
 * Flame graphs drawn by tsbpf: folded stacks (`a;b;c 12`) merged into a
 * tree whose frames are boxes as wide as their sample share, root at the
 * bottom, each with a tooltip (`<title>`) naming the function and its
 * samples. The SVG is plain (no script), so it opens anywhere.
 */
import { ToolError } from './errors.ts';

interface FrameNode {
  name: string;
  value: number;
  children: Map<string, FrameNode>;
}

const WIDTH = 1200;
const FRAME_HEIGHT = 16;
const PAD_TOP = 40;
const PAD_BOTTOM = 20;
const PAD_SIDE = 10;
/** Frames narrower than this are left out (invisible anyway). */
const MIN_WIDTH = 0.1;
const FONT_SIZE = 12;
/** Approximate width of a character of the font, to know how much of a name fits. */
const CHAR_WIDTH = FONT_SIZE * 0.59;
/** Deeper stacks are cut, so that a corrupt input cannot make an unbounded drawing. */
const MAX_DEPTH = 1024;

const escapeXml = (text: string): string => text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Parses folded stacks (one `frame;frame;frame COUNT` a line) into a tree; a bad line is a ToolError naming it. */
export function parseFolded(text: string): FrameNode {
  const root: FrameNode = { name: 'all', value: 0, children: new Map() };
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    const match = /^(.*\S)\s+(\d+)$/.exec(line);
    if (match === null) throw new ToolError(`folded stacks line ${index + 1}: expected 'frame;frame;... COUNT', got '${line.slice(0, 80)}'`);
    addStack(root, match[1]!.split(';'), Number(match[2]));
  });
  return root;
}

function addStack(root: FrameNode, frames: readonly string[], count: number): void {
  root.value += count;
  let node = root;
  for (const frame of frames.slice(0, MAX_DEPTH)) {
    let child = node.children.get(frame);
    if (child === undefined) {
      child = { name: frame, value: 0, children: new Map() };
      node.children.set(frame, child);
    }
    child.value += count;
    node = child;
  }
}

/** A warm colour per function name, stable across runs (the same function, the same colour). */
function colour(name: string): string {
  let hash = 0;
  for (let i = 0; i < name.length; i++) hash = (hash * 31 + name.charCodeAt(i)) >>> 0;
  const r = 205 + (hash % 50);
  const g = 80 + ((hash >>> 8) % 150);
  const b = (hash >>> 16) % 55;
  return `rgb(${r},${g},${b})`;
}

function depthOf(node: FrameNode): number {
  let deepest = 0;
  const stack: Array<[FrameNode, number]> = [[node, 0]];
  while (stack.length > 0) {
    const [n, d] = stack.pop()!;
    deepest = Math.max(deepest, d);
    for (const c of n.children.values()) stack.push([c, d + 1]);
  }
  return deepest;
}

/** An SVG flame graph of folded stacks (`name;name;name count` lines, or a parsed tree). */
export function flameGraphSvg(folded: string | readonly string[], options: { title?: string } = {}): string {
  const root = parseFolded(typeof folded === 'string' ? folded : folded.join('\n'));
  const title = options.title ?? 'Flame Graph';
  const depth = depthOf(root);
  const height = PAD_TOP + (depth + 1) * FRAME_HEIGHT + PAD_BOTTOM;
  const scale = root.value > 0 ? (WIDTH - 2 * PAD_SIDE) / root.value : 0;
  const boxes: string[] = [];
  // Iterative walk: x position and depth carried with each node; children sorted by name as flamegraph.pl does.
  const pending: Array<{ node: FrameNode; x: number; level: number }> = [{ node: root, x: PAD_SIDE, level: 0 }];
  while (pending.length > 0) {
    const { node, x, level } = pending.pop()!;
    const width = node.value * scale;
    if (width < MIN_WIDTH) continue;
    const y = height - PAD_BOTTOM - (level + 1) * FRAME_HEIGHT;
    const share = root.value > 0 ? ((100 * node.value) / root.value).toFixed(2) : '0.00';
    const fits = Math.floor((width - 6) / CHAR_WIDTH);
    const label = fits >= 3 ? (node.name.length <= fits ? node.name : `${node.name.slice(0, fits - 2)}..`) : '';
    boxes.push(
      `<g><title>${escapeXml(node.name)} (${node.value} samples, ${share}%)</title><rect x="${x.toFixed(1)}" y="${y}" width="${width.toFixed(1)}" height="${FRAME_HEIGHT - 1}" fill="${level === 0 ? 'rgb(180,180,180)' : colour(node.name)}" rx="2" ry="2"/>` +
        (label ? `<text x="${(x + 3).toFixed(1)}" y="${y + FRAME_HEIGHT - 4}">${escapeXml(label)}</text>` : '') +
        '</g>',
    );
    let childX = x;
    for (const child of [...node.children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      pending.push({ node: child, x: childX, level: level + 1 });
      childX += child.value * scale;
    }
  }
  return [
    '<?xml version="1.0" standalone="no"?>',
    `<svg version="1.1" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" xmlns="http://www.w3.org/2000/svg">`,
    `<style>text { font-family: Verdana, sans-serif; font-size: ${FONT_SIZE}px; fill: rgb(0,0,0); } .title { font-size: 17px; }</style>`,
    `<rect x="0" y="0" width="${WIDTH}" height="${height}" fill="rgb(250,250,240)"/>`,
    `<text class="title" x="${WIDTH / 2}" y="24" text-anchor="middle">${escapeXml(title)}</text>`,
    ...boxes,
    '</svg>',
    '',
  ].join('\n');
}
