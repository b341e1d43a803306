# Parallax: multi-stage build on Node 24 slim. Sources run directly (Node's type stripping), so the build stage only
# installs production dependencies (native addons for LevelDB, secp256k1 and keccak come prebuilt in their packages).
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY config ./config
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
ENTRYPOINT ["node", "bin/parallax.js"]
CMD ["--help"]
