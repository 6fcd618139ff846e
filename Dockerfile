# syntax=docker/dockerfile:1
# The operator image: Node's official binary, the shared libraries it links, the operator bundled with
# its production dependencies into one file, nothing else (no shell, no package manager, no npm). It runs as the
# numeric user 65532, needs no writable path (readOnlyRootFilesystem: true), and node is PID 1: the
# operator handles SIGTERM itself (drains work, then releases its Lease).
#
# NODE_IMAGE must be a Debian bookworm image with node and npm in /usr/local (the official one by
# default). `npm run image` builds an equivalent one locally and passes it, for machines with no registry;
# keep the version here equal to the `node` devDependency in package.json (the script checks it).
ARG NODE_IMAGE=docker.io/library/node:24.21.0-bookworm-slim

# The operator and its production dependencies bundled into one file, dist/main.js (scripts/build.ts):
# measured, one bundle instead of ~900 modules from node_modules takes the idle process from 140 to
# 107 MiB RSS, and the image needs no node_modules. The licences of what is bundled go next to it.
# Behind a TLS-intercepting proxy, pass its CA as a build secret: --secret id=npm_ca,src=/path/to/ca.pem.
FROM ${NODE_IMAGE} AS compile
WORKDIR /src
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npm_ca,required=false \
    if [ -f /run/secrets/npm_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca; fi; \
    npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/build.ts scripts/ascii-bundle.ts ./scripts/
COPY src ./src
RUN node scripts/build.ts

# A distroless-style root filesystem: node, the libraries `ldd` lists for it, CA certificates, and
# passwd/group entries for root and the nonroot user.
FROM ${NODE_IMAGE} AS rootfs
RUN set -eu; \
    if [ ! -s /etc/ssl/certs/ca-certificates.crt ]; then \
      apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*; \
    fi; \
    mkdir -p /rootfs/usr/local/bin /rootfs/etc/ssl/certs /rootfs/home/nonroot /rootfs/tmp; \
    cp /usr/local/bin/node /rootfs/usr/local/bin/node; \
    for lib in $(ldd /usr/local/bin/node | grep -o '/[^ ]*'); do \
      mkdir -p "/rootfs$(dirname "$lib")"; cp -L "$lib" "/rootfs$lib"; \
    done; \
    cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/; \
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
      > /rootfs/etc/passwd; \
    printf 'root:x:0:\nnonroot:x:65532:\n' > /rootfs/etc/group; \
    printf 'hosts: files dns\n' > /rootfs/etc/nsswitch.conf; \
    chown 65532:65532 /rootfs/home/nonroot; \
    chmod 1777 /rootfs/tmp; \
    chroot /rootfs /usr/local/bin/node --version

FROM scratch
COPY --from=rootfs /rootfs/ /
WORKDIR /app
COPY package.json ./
COPY --from=compile /src/dist/main.js /src/dist/main.js.LEGAL.txt /src/dist/THIRD_PARTY_LICENSES.txt ./dist/
ENV NODE_ENV=production HOME=/home/nonroot
USER 65532:65532
# V8 sizes its heap from the memory it sees and collects lazily below that size: on a large host the
# operator's heap grew to 200 MiB at 2,000 credentials with 80 MiB live, and its young generation
# alone kept RSS 120 MiB higher (docs/benchmarks.md, "Memory"). The old space gets half the container's
# memory limit (resources.limits.memory; of the host's memory where there is none) and the young
# generation 8 MiB semi-spaces, which brought peak RSS at 2,000 from 441 to 191 MiB with the same
# time-to-Ready. Flags, not NODE_OPTIONS: Node 24 does not accept the percentage there.
ENTRYPOINT ["/usr/local/bin/node", "--max-old-space-size-percentage=50", "--max-semi-space-size=8", "dist/main.js"]
