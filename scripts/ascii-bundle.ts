// Makes the bundle pure ASCII. V8 keeps a script's source for as long as the script lives (lazy
// functions are compiled from it), and one character above U+00FF makes the whole source a two-byte
// string: 4.7 million characters took 9.0 MiB of heap instead of 4.5 MiB (heap snapshot, bench n=1000).
// esbuild's `charset: 'ascii'` escapes strings, templates and identifiers but leaves regular
// expression literals as written: liquidjs's `slugify` filter (/[ẞ]/) and two of our own
// patterns put the bundle over.
//
// Outside strings, templates, identifiers and comments, JavaScript has no place for a non-ASCII
// character, and in a regular expression literal `\uXXXX` means the same character (with or without
// the `u` flag; a character outside the BMP becomes its surrogate pair, which the `u` flag reads as one
// code point). Each escape is six code units for one, so the generated columns of the source map
// after it move along by five.

/** The source map fields the shift touches (the rest is kept as it is). */
export interface SourceMapLike {
  mappings: string;
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const BASE64_VALUE = new Map(
  Array.from({ length: BASE64.length }, (_, index) => [BASE64.charAt(index), index]),
);

/** One segment's VLQ fields. */
function decodeSegment(segment: string): number[] {
  const fields: number[] = [];
  let value = 0;
  let shift = 0;
  for (const char of segment) {
    const digit = BASE64_VALUE.get(char);
    if (digit === undefined) throw new Error(`source map: bad base64 digit ${JSON.stringify(char)}`);
    value += (digit & 31) * 2 ** shift;
    if (digit & 32) {
      shift += 5;
      continue;
    }
    fields.push(value % 2 === 1 ? -(value - 1) / 2 : value / 2);
    value = 0;
    shift = 0;
  }
  return fields;
}

function encodeSegment(fields: readonly number[]): string {
  let out = '';
  for (const field of fields) {
    let value = field < 0 ? -field * 2 + 1 : field * 2;
    do {
      let digit = value % 32;
      value = Math.floor(value / 32);
      if (value > 0) digit |= 32;
      out += BASE64.charAt(digit);
    } while (value > 0);
  }
  return out;
}

function escapeChar(char: string): string {
  let out = '';
  for (let index = 0; index < char.length; index++)
    out += `\\u${char.charCodeAt(index).toString(16).padStart(4, '0')}`;
  return out;
}

/**
 * The code with every non-ASCII character written as `\uXXXX`, and the map's mappings with the
 * generated columns after each escape moved to match. Columns are UTF-16 code units, as in the map.
 */
export function asciiBundle<Map extends SourceMapLike>(
  code: string,
  map: Map,
): { code: string; map: Map; escaped: number } {
  const lines = code.split('\n');
  const mappingLines = map.mappings.split(';');
  let escaped = 0;
  const outLines = lines.map((line, lineIndex) => {
    // Columns (in the original line) of the characters escaped on this line, in order.
    const columns: number[] = [];
    let out = '';
    let column = 0;
    for (const char of line) {
      if (char.charCodeAt(0) > 0x7f) {
        for (let unit = 0; unit < char.length; unit++) columns.push(column + unit);
        out += escapeChar(char);
        escaped++;
      } else out += char;
      column += char.length;
    }
    if (columns.length > 0 && mappingLines[lineIndex] !== undefined && mappingLines[lineIndex] !== '') {
      let previous = 0;
      let previousShifted = 0;
      mappingLines[lineIndex] = mappingLines[lineIndex]
        .split(',')
        .map((segment) => {
          const fields = decodeSegment(segment);
          const generated = previous + (fields[0] ?? 0);
          previous = generated;
          // Each escaped code unit before this column adds five (one became six).
          let extra = 0;
          for (const escapedColumn of columns) if (escapedColumn < generated) extra += 5;
          const shifted = generated + extra;
          fields[0] = shifted - previousShifted;
          previousShifted = shifted;
          return encodeSegment(fields);
        })
        .join(',');
    }
    return out;
  });
  return { code: outLines.join('\n'), map: { ...map, mappings: mappingLines.join(';') }, escaped };
}
