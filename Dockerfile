# syntax=docker/dockerfile:1

# ---- build: every dependency (tsc), better-sqlite3 compiled for this image, then dist/ ----
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# Sources (.dockerignore keeps node_modules, dist and data out of the context).
COPY . .
# dist/: the compiled server, protocol and CLI with the Lua scripts, migrations and docs they read.
# Then drop the devDependencies (tsx, TypeScript, …): the runtime stage copies node_modules as it is left.
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# ---- runtime: compiled code and production dependencies only; no compiler, no tsx, non-root ----
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PORT=3000
WORKDIR /app
# Code and dependencies stay root-owned (read-only for the app); only /app/data is writable.
COPY --from=build /app/node_modules ./node_modules
# package.json: "type": "module" makes dist/**/*.js ES modules; it also names the `dispatch` bin.
COPY --from=build /app/package.json ./
COPY --from=build /app/dist ./dist
# `npx dispatch …` / `node clients/cli/bin.js …`: without tsx it runs dist/clients/cli/run.js.
COPY --from=build /app/clients/cli/bin.js ./clients/cli/bin.js
# Default DB_PATH is ./data/dispatch.db; a named volume mounted here inherits this ownership.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# node itself is the main process (not npm), so SIGTERM reaches server/main.ts's shutdown handler.
CMD ["node", "dist/server/main.js"]
