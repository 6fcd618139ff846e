// `npm run demo`: placeholder until the demo lands (see the README's quick start).
console.log(
  [
    'The live demo (local control plane, operator, and a credential for every provider refreshing live)',
    'is not built yet. Meanwhile:',
    '  npm run cluster   # a real local Kubernetes control plane with the ApiCredential CRD, until Ctrl-C',
    '  npm test          # every test tier against real servers',
  ].join('\n'),
);
