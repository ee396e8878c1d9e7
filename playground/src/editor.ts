/**
 * The source editor: a textarea over a highlighted copy of its text (the
 * textarea's own text is transparent, so the caret and selection are the
 * browser's), with problems marked on their lines and listed below.
 */
import type { SourceProblem } from './engine.ts';

const ASM_TOKENS = /(;.*$|\/\/.*$|#.*$)|(^\s*\.map\b)|(^\s*[A-Za-z_][\w.]*:)|(%?\b[rw](?:10|[0-9])\b)|(\b(?:if|goto|exit|call|callx|lock|ll|be16|be32|be64|le16|le32|le64|bswap16|bswap32|bswap64|map_fd|map_value|func|may_goto|s>>=|u8|u16|u32|u64|s8|s16|s32|mov|add|sub|mul|div|or|and|lsh|rsh|neg|mod|xor|arsh|ja|jeq|jgt|jge|jlt|jle|jset|jne|jsgt|jsge|jslt|jsle|ldxb|ldxh|ldxw|ldxdw|stxb|stxh|stxw|stxdw|stb|sth|stw|stdw|lddw)\b)|(\b0x[0-9a-fA-F]+\b|-?\b\d+\b)/gm;
const TRACE_TOKENS = /(\/\/.*$|\/\*[\s\S]*?\*\/)|(\b(?:BEGIN|END|interval|tracepoint|kprobe|uprobe|profile)\b[^{\s]*)|(@\w*|\$\w+)|(\b(?:if|else|unroll|while|return|exit|printf|print|count|sum|avg|min|max|stats|hist|lhist|clear|delete|time|nsecs|elapsed|pid|tid|comm|uid|str|for|let)\b)|("(?:[^"\\]|\\.)*")|(\b0x[0-9a-fA-F]+\b|\b\d+\b)/gm;

const escapeHtml = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function highlight(text: string, language: 'asm' | 'trace'): string {
  const classes = language === 'asm' ? ['comment', 'directive', 'label', 'register', 'keyword', 'number'] : ['comment', 'probe', 'variable', 'keyword', 'string', 'number'];
  const tokens = language === 'asm' ? ASM_TOKENS : TRACE_TOKENS;
  let out = '';
  let last = 0;
  for (const m of text.matchAll(tokens)) {
    const group = m.slice(1).findIndex((g) => g !== undefined);
    out += escapeHtml(text.slice(last, m.index)) + `<span class="tok-${classes[group]}">${escapeHtml(m[0])}</span>`;
    last = m.index + m[0].length;
  }
  return out + escapeHtml(text.slice(last));
}

export class Editor {
  private problems: SourceProblem[] = [];
  language: 'asm' | 'trace' = 'asm';

  constructor(
    readonly textarea: HTMLTextAreaElement,
    private readonly layer: HTMLElement,
    private readonly problemList: HTMLElement,
    onChange: () => void,
  ) {
    textarea.addEventListener('input', () => {
      this.problems = [];
      this.render();
      onChange();
    });
    textarea.addEventListener('scroll', () => {
      layer.scrollTop = textarea.scrollTop;
      layer.scrollLeft = textarea.scrollLeft;
    });
    textarea.addEventListener('keydown', (event) => {
      if (event.key !== 'Tab') return;
      event.preventDefault();
      textarea.setRangeText('    ', textarea.selectionStart, textarea.selectionEnd, 'end');
      textarea.dispatchEvent(new Event('input'));
    });
  }

  get value(): string {
    return this.textarea.value;
  }

  set value(text: string) {
    this.textarea.value = text;
    this.problems = [];
    this.render();
  }

  setProblems(problems: SourceProblem[]): void {
    this.problems = problems;
    this.render();
  }

  render(): void {
    const lines = highlight(this.textarea.value, this.language).split('\n');
    const byLine = new Map<number, SourceProblem[]>();
    for (const p of this.problems) byLine.set(p.line, [...(byLine.get(p.line) ?? []), p]);
    // A problem's message is written after its line, where the textarea has no text over it.
    this.layer.innerHTML =
      lines
        .map((line, i) => {
          const problems = byLine.get(i + 1);
          if (problems === undefined) return line;
          return `<span class="error-line">${line || ' '}</span><span class="error-note">  ◀ ${escapeHtml(problems.map((p) => `col ${p.column}: ${p.message}`).join('; '))}</span>`;
        })
        .join('\n') + '\n';
    this.problemList.replaceChildren(
      ...this.problems.map((p) => {
        const item = document.createElement('li');
        item.className = 'problem';
        item.textContent = `line ${p.line}, column ${p.column}: ${p.message}`;
        item.addEventListener('click', () => this.reveal(p.line, p.column));
        return item;
      }),
    );
  }

  reveal(line: number, column: number): void {
    const lines = this.textarea.value.split('\n');
    const offset = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0) + Math.max(0, column - 1);
    this.textarea.focus();
    this.textarea.setSelectionRange(offset, offset);
  }
}
