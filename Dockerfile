# Parallax: multi-stage build on Node 24 slim. The TypeScript sources run directly (Node's type stripping): there is
# no compile step, the build stage only installs the production dependencies.
#
# Install scripts are skipped (--ignore-scripts). The only packages that have one are classic-level, keccak and
# secp256k1, whose script merely looks for the prebuilt add-on they ship (linux-x64 for all three), and the `node`
# package, whose script downloads a second Node 24 binary for hosts without one: the base image has Node 24 already,
# so that package is deleted. The last stage loads the native add-ons once, so a platform without prebuilds (e.g.
# linux/arm64 for keccak and secp256k1; slim has no compiler) fails the build rather than the daemon.
#
# Senders are recovered with Debian's libsecp256k1 through Parallax's own add-on (src/native/secp256k1.c), built in the
# first stage with gcc (scripts/build-native.ts --require: a failed build fails the image); the last stage has only
# the library. Both stages are bookworm, whose libsecp256k1 (0.2.0) the add-on is built against.
# scripts/patch-deps.ts edits one line of the installed @ethereumjs/vm (see there; npm ci's postinstall runs it too,
# skipped here with the other install scripts): with --require, a package it cannot edit fails the build.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev libsecp256k1-dev \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --cache /tmp/npm-cache \
 && rm -rf /tmp/npm-cache node_modules/node node_modules/.bin/node
COPY scripts/build-native.ts scripts/patch-deps.ts ./scripts/
COPY src ./src
RUN node scripts/build-native.ts --require \
 && node scripts/patch-deps.ts --require

FROM node:24-bookworm-slim
LABEL org.opencontainers.image.title="parallax" \
      org.opencontainers.image.description="Parallel EVM execution sidecar: follows a node, re-executes and verifies every block" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends libsecp256k1-1 \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    PARALLAX_DATA_DIR=/data \
    PARALLAX_HTTP_HOST=0.0.0.0 \
    PARALLAX_HTTP_PORT=9615 \
    PARALLAX_LOG_FORMAT=json
# Application files stay owned by root (read-only to the daemon); only /data is writable by the `node` user.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=deps /app/build ./build
COPY package.json tsconfig.json ./
COPY bin ./bin
COPY config ./config
COPY src ./src
RUN node --input-type=module -e "const c = await import('/app/src/crypto/index.ts'); await import('level'); if (c.recoveryBackend !== 'system') throw new Error('sender recovery is not on the system libsecp256k1')" \
 && mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 9615
# slim images have no curl: node itself asks /health (200 while the process is alive and serving).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PARALLAX_HTTP_PORT||9615)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# The daemon handles SIGTERM itself (commits the block in flight, closes the database), so node can be PID 1.
ENTRYPOINT ["node", "bin/parallax.js"]
CMD ["run"]
