# Parallax: multi-stage build on Node 24 slim. Sources run directly (Node's type stripping), so the build stage only
# installs production dependencies (native addons for LevelDB, secp256k1 and keccak come prebuilt in their packages).
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production \
    PARALLAX_DATA_DIR=/data \
    PARALLAX_HTTP_HOST=0.0.0.0 \
    PARALLAX_HTTP_PORT=9615 \
    PARALLAX_LOG_FORMAT=json
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY config ./config
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 9615
# slim images have no curl: node itself asks /health.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PARALLAX_HTTP_PORT||9615)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "bin/parallax.js"]
CMD ["run"]
