# The Understudy worker image used by docker-compose.yml. Stateless: run as many as the task queue needs.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
# The image's npm predates package.json's allowScripts: tell onnxruntime-node itself not to fetch CUDA libraries.
ENV ONNXRUNTIME_NODE_INSTALL=skip
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY models/artifacts ./models/artifacts
USER node
CMD ["node_modules/.bin/tsx", "src/worker-main.ts"]
