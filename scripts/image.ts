// `npm run image`: builds the operator image into the local buildah store (see scripts/image/build.ts)
// and prints its name and size.
import { ensureImageBuilt } from './image/build.ts';
import { buildahOutput, storeArgs } from './image/store.ts';

const started = Date.now();
try {
  const image = await ensureImageBuilt();
  const size = buildahOutput(['images', '--format', '{{.Name}}:{{.Tag}} {{.Size}}'])
    ?.split('\n')
    .find((line) => line.startsWith(`${image.name} `))
    ?.slice(image.name.length + 1)
    .trim();
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(
    `${image.name} (${size ?? 'size unknown'}) ${image.built ? `built in ${seconds} s` : 'unchanged'}`,
  );
  console.log(`Also tagged localhost/apicred-operator:dev. Inspect or export it with:`);
  console.log(`  buildah ${storeArgs.join(' ')} push ${image.name} oci-archive:apicred-operator.tar`);
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
