# The Understudy worker image used by docker-compose.yml. Stateless: run as many as the task queue needs.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY models/artifacts ./models/artifacts
USER node
CMD ["node_modules/.bin/tsx", "src/worker-main.ts"]
