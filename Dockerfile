# Two images from one build, both running as uid 65532 with a read-only root filesystem:
#   docker build --target functions -t trainyard .            (every function + the API)
#   docker build --target predictor -t trainyard-predictor .  (sidecar + inference)
# Knative picks the function with FUNCTION_TARGET (see knative/base/serving/functions.yaml).
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY requirements.lock pyproject.toml ./
RUN pip install -r requirements.lock
COPY sdk sdk
COPY functions functions
COPY predictor predictor
COPY proto proto
RUN pip install --no-deps --no-build-isolation . && python -m predictor.build_proto \
    && chmod -R a+rX /app
USER 65532:65532

FROM base AS functions
ENV FUNCTION_SOURCE=/app/functions/entry.py PORT=8080
EXPOSE 8080
CMD ["python", "-m", "functions.serve"]

FROM base AS predictor
# The shared embedding table is baked into its own read-only volume by the deploy step
# (python -m sdk.models.embeddings --out DIR); the image only carries code.
CMD ["python", "-m", "predictor.sidecar"]
