// What the four vendor emulators share, in one place: server lifecycle and routing (emulator.ts),
// request parsing (http.ts), fault script (faults.ts), redacted request log (request-log.ts) and JWT
// helpers with rotating keys (jwt.ts).
export * from './emulator.ts';
export * from './faults.ts';
export * from './http.ts';
export * from './jwt.ts';
export * from './request-log.ts';
