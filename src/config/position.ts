/** 1-based line and column, as editors and compilers print them. */
export interface Position {
  line: number;
  column: number;
}

/** Maps character offsets of one source text to line:column, in O(log lines) per look-up. */
export class LineIndex {
  private readonly lineStarts: number[] = [0];

  constructor(text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
  }

  at(offset: number): Position {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.lineStarts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - (this.lineStarts[lo] ?? 0) + 1 };
  }
}

/** RFC 6901 JSON pointer segment, the form ajv uses in `instancePath`. */
export function pointerSegment(key: string | number): string {
  return `/${String(key).replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

export function pointerToSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** The dotted name people use for a setting: `log.level`, `bind[1]`, `env.NODE_ENV`. */
export function settingName(pointer: string): string {
  let name = '';
  for (const seg of pointerToSegments(pointer)) {
    if (/^\d+$/.test(seg)) name += `[${seg}]`;
    else name += name ? `.${seg}` : seg;
  }
  return name || '(root)';
}
