// Collects a response body up to a byte limit; past the limit it keeps nothing more, so a huge
// answer costs at most the limit plus one chunk of memory before the request is aborted.

export class BoundedBody {
  readonly #max: number;
  readonly #chunks: Buffer[] = [];
  #kept = 0;
  #received = 0;

  constructor(maxBytes: number) {
    this.#max = maxBytes;
  }

  /** Adds a chunk; false (and the chunk dropped) once the body would exceed the limit. */
  push(chunk: Buffer): boolean {
    this.#received += chunk.length;
    if (this.#kept + chunk.length > this.#max) return false;
    this.#chunks.push(chunk);
    this.#kept += chunk.length;
    return true;
  }

  /** Bytes read from the network so far, kept or not. */
  get received(): number {
    return this.#received;
  }

  get kept(): number {
    return this.#kept;
  }

  text(): string {
    return Buffer.concat(this.#chunks, this.#kept).toString('utf8');
  }
}
