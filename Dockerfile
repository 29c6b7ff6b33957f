FROM python:3.11-slim
WORKDIR /srv/prexus
COPY pyproject.toml README.md ./
COPY app ./app
COPY graph ./graph
COPY ingest ./ingest
RUN pip install --no-cache-dir .
EXPOSE 8000
CMD ["prexus", "serve", "--host", "0.0.0.0", "--port", "8000"]
