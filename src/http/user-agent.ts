// 'apicred-operator/<version>', read once from package.json (shipped next to dist/ in the image).
import { readFileSync } from 'node:fs';

function version(): string {
  try {
    const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    const parsed = JSON.parse(text) as { version?: unknown };
    return typeof parsed.version === 'string' ? parsed.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export const DEFAULT_USER_AGENT = `apicred-operator/${version()}`;
