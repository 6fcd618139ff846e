// Vendor token API emulators for provider tests, integration tests, the demo and benchmarks.
export * from './common.ts';
export * from './idempiere.ts';
export * from './idempiere-config.ts';
export * from './idempiere-data.ts';
export * from './idempiere-jwt.ts';
export * from './idempiere-refresh.ts';
export * from './idmp.ts';
export * from './insights-hub.ts';
export * from './tapdata.ts';
