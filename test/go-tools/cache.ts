import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Stable, git-ignored home for the tools the tests build or download, and for the Go caches they share.
 * It lives outside the checkout so that a fresh clone on the same machine (CI) reuses a warm build.
 */
export const cacheRoot = process.env.APICRED_CACHE_DIR ?? join(homedir(), '.cache', 'apicred-operator');
export const goBuildCache = join(cacheRoot, 'go-build');
export const goModCache = join(cacheRoot, 'go-mod');
