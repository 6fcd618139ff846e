// The operator's entry point with the echo provider registered: src/main.ts's main() with the test's
// registry. Kept in test/, so production has no flag that loads a provider from elsewhere.
import { main } from '../../../src/main.ts';
import { registry } from './registration.ts';

await main(registry);
