// Plain JavaScript on purpose: this must run, and fail clearly, on any Node version.
const required = 24;
const major = Number(process.versions.node.split('.')[0]);
if (major !== required) {
  console.error(
    `apicred-operator needs Node ${required}; this is Node ${process.versions.node} (${process.execPath}).\n` +
      `Run it through npm after "npm ci" (npm puts the pinned node@${required} from node_modules/.bin first on PATH), ` +
      `for example "npm test" or "npm run demo".`,
  );
  process.exit(1);
}
