// Every reason the operator's source can put in a condition, read from the source itself so that a
// reason added anywhere is found without editing a list. Used by readme-reasons.test.ts.
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

const PASCAL_LITERAL = /'([A-Z][A-Za-z0-9]+)'/g;
// A `reason:` property, or a `fooReason` property set or typed (`x.fooReason = ...`, `fooReason?: ...`),
// up to the end of the statement on that line: catches literals, ternaries, `?? 'Default'` and unions.
// Only in property position (after a line start, `{` or `,`), so `a ? error.reason : b` is not one.
const REASON_ASSIGNMENT =
  /(?:(?:^|[{,])\s*reason\s*:|(?:^|[{,.])\s*[a-z]\w*Reason\??\s*(?::|=(?!=)))\s*([^;\n]+)/gm;
// Tables of [pattern, FailureKind, reason] and their `?? [undefined, kind, reason]` fallbacks.
const KIND_THEN_REASON = /'(?:terminal|transient|rate-limited)',\s*'([A-Z][A-Za-z0-9]+)'/g;

// Reasons a module returns to its callers, which map them to a condition reason of their own, with why.
const INTERNAL_REASONS: Record<string, string> = {
  // ExpiryError reasons: providers pass on ExpiredOnArrival and InvalidExpiresIn (found there), the rest become UnknownExpiry.
  'src/policy/expiry.ts': 'reason',
};

export interface FoundReason {
  reason: string;
  /** The first file that sets it, relative to the repository. */
  file: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** Strips line and block comments, so that a reason named in a comment is not counted. */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

export function conditionReasonsInSource(repoRoot: string): FoundReason[] {
  const found = new Map<string, string>();
  const srcDir = join(repoRoot, 'src');
  // src/api's `reason` is the CEL validation reason (FieldValueInvalid, ...), never a condition's.
  const files = sourceFiles(srcDir).filter((file) => !relative(srcDir, file).startsWith('api'));
  for (const file of files) {
    const text = withoutComments(readFileSync(file, 'utf8'));
    const add = (reason: string | undefined): void => {
      if (reason && !found.has(reason)) found.set(reason, relative(repoRoot, file));
    };
    const internal = INTERNAL_REASONS[relative(repoRoot, file)];
    for (const [match, expression] of text.matchAll(REASON_ASSIGNMENT)) {
      if (internal && new RegExp(`(?:^|[{,.])\\s*${internal}\\s*:`).test(match)) continue;
      for (const [, literal] of (expression ?? '').matchAll(PASCAL_LITERAL)) add(literal);
    }
    for (const [, literal] of text.matchAll(KIND_THEN_REASON)) add(literal);
  }
  return [...found]
    .map(([reason, file]) => ({ reason, file }))
    .sort((a, b) => a.reason.localeCompare(b.reason));
}
