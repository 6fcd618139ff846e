// scripts/ascii-bundle.ts: the bundle's non-ASCII characters become \u escapes that mean the same,
// and its source map still points each generated token at its original line and column.
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { asciiBundle } from '../../scripts/ascii-bundle.ts';

/** The generated columns of each segment per line (first VLQ field, accumulated), decoded naively. */
function generatedColumns(mappings: string): number[][] {
  const digits = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  return mappings.split(';').map((line) => {
    let column = 0;
    return line === ''
      ? []
      : line.split(',').map((segment) => {
          let value = 0;
          let shift = 0;
          for (const char of segment) {
            const digit = digits.indexOf(char);
            value += (digit & 31) << shift;
            shift += 5;
            if (!(digit & 32)) break;
          }
          column += value & 1 ? -(value >> 1) : value >> 1;
          return column;
        });
  });
}

describe('asciiBundle', () => {
  it('escapes regular expression literals so that they match the same text', () => {
    const code = 'export const a=/[ẞŒ]/g,b=/验证码/i,c=/(\\d+)([µμ]*)/y,d=/😀/u;';
    const { code: out, escaped } = asciiBundle(code, { mappings: '' });
    expect(escaped).toBe(8);
    expect(out.match(/[^\t\n\r\x20-\x7e]/g)).toBeNull();
    const patterns = (source: string): RegExp[] =>
      runInNewContext(`${source.replace('export const', 'var')} [a,b,c,d]`) as RegExp[];
    const before = patterns(code);
    const after = patterns(out);
    for (const sample of ['STRASSE ẞ Œuvre', '请输入验证码', '10μ', 'x😀y'])
      expect(after.map((re) => sample.match(re)?.[0] ?? null)).toEqual(
        before.map((re) => sample.match(re)?.[0] ?? null),
      );
  });

  it('moves the generated columns after each escape by five per code unit', () => {
    // Line 0: segments at columns 0, 4 and 9; an escaped character at column 2 (one code unit)
    // and one outside the BMP at column 6 (two). Line 1 has no escape and keeps its columns.
    const code = 'ab\u00e9d e\u{1f600}fgh\nplain';
    // Segments [0,0,0,0], [4,0,0,4], [5,0,0,5] on line 0; [0,0,1,0] and [3,0,0,3] on line 1.
    const mappings = 'AAAA,IAAI,KAAK;AACA,GAAG';
    const { code: out, map } = asciiBundle(code, { mappings, file: 'main.js' });
    expect(out).toBe('ab\\u00e9d e\\ud83d\\ude00fgh\nplain');
    expect(generatedColumns(map.mappings)).toEqual([
      [0, 9, 24],
      [0, 3],
    ]);
    // The segment at column 4 (the space before 'e') is now at 9; the 'g' after the emoji at 24.
    expect(out.split('\n')[0]?.[9]).toBe(' ');
    expect(out.split('\n')[0]?.[24]).toBe('g');
    // Only the generated columns move: the source fields are the same.
    expect(map.mappings.split(';')[1]).toBe('AACA,GAAG');
    expect(map).toMatchObject({ file: 'main.js' });
  });

  it('leaves an ASCII bundle and its map as they are', () => {
    const { code, map, escaped } = asciiBundle('let a = "x";\n', { mappings: 'AAAA,IAAI' });
    expect([code, map.mappings, escaped]).toEqual(['let a = "x";\n', 'AAAA,IAAI', 0]);
  });
});
