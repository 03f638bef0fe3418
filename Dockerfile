# syntax=docker/dockerfile:1
# Build stage: a wheel of localgov (with its migrations inside) and of every dependency.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY migrations ./migrations
COPY scripts ./scripts
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Runtime stage: no compilers, no sources, a non-root user.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LOCALGOV_ENV=production
RUN useradd --system --uid 10001 --home-dir /app --create-home localgov
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
WORKDIR /app
COPY tenants.yaml ./tenants.yaml
USER localgov
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health/live').status != 200)"
# Migrations are a release step (`localgov migrate`), not part of starting a replica.
CMD ["localgov", "serve", "--host", "0.0.0.0", "--port", "8000"]
