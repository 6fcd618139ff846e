// Packs files into an OCI image-layout tar that `ctr images import` reads, without a registry or a
// container tool: one uncompressed layer, a config, a manifest and index.json naming the image.
import { createHash } from 'node:crypto';

export interface ImageFile {
  /** Path inside the image, without a leading slash, e.g. "pause". */
  path: string;
  content: Buffer;
  mode: number;
}

export interface ImageSpec {
  /** Full reference, e.g. "apicred.local/pause:1". */
  ref: string;
  files: ImageFile[];
  entrypoint: string[];
}

interface TarEntry {
  name: string;
  content: Buffer;
  mode: number;
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

/** A ustar header block; every name here is short, so no prefix field or long-name extension. */
function tarHeader(entry: TarEntry): Buffer {
  if (Buffer.byteLength(entry.name) > 100) throw new Error(`tar name too long: ${entry.name}`);
  const header = Buffer.alloc(512);
  header.write(entry.name, 0, 100, 'utf8');
  header.write(octal(entry.mode, 8), 100);
  header.write(octal(0, 8), 108); // uid
  header.write(octal(0, 8), 116); // gid
  header.write(octal(entry.content.length, 12), 124);
  header.write(octal(0, 12), 136); // mtime: fixed, so the same input gives the same digest
  header.write('        ', 148); // checksum field counts as spaces while summing
  header.write('0', 156); // regular file
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(octal(sum, 7) + ' ', 148);
  return header;
}

export function tar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    parts.push(tarHeader(entry), entry.content);
    const padding = (512 - (entry.content.length % 512)) % 512;
    parts.push(Buffer.alloc(padding));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

function digest(content: Buffer): string {
  return `sha256:${createHash('sha256').update(content).digest('hex')}`;
}

function blobEntry(content: Buffer): TarEntry {
  return { name: `blobs/sha256/${digest(content).slice('sha256:'.length)}`, content, mode: 0o644 };
}

/** The image as an OCI image-layout tar. */
export function ociImageLayoutTar(spec: ImageSpec): Buffer {
  const layer = tar(spec.files.map((file) => ({ name: file.path, content: file.content, mode: file.mode })));
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Entrypoint: spec.entrypoint },
      rootfs: { type: 'layers', diff_ids: [digest(layer)] },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: digest(config),
        size: config.length,
      },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digest(layer), size: layer.length },
      ],
    }),
  );
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: digest(manifest),
          size: manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': spec.ref },
        },
      ],
    }),
  );
  return tar([
    {
      name: 'oci-layout',
      content: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })),
      mode: 0o644,
    },
    { name: 'index.json', content: index, mode: 0o644 },
    blobEntry(config),
    blobEntry(manifest),
    blobEntry(layer),
  ]);
}
