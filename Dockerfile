# One image for web, worker and dashboard; compose.yaml picks the command.
FROM python:3.11-slim
# JSON log lines for the platform's log pipeline (LOG_FORMAT=text for people)
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MEDIA_ROOT=/media LOG_FORMAT=json
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY api ./api
COPY queues ./queues
COPY stages ./stages
RUN useradd --create-home app && mkdir -p /media && chown app /media
USER app
EXPOSE 8000
CMD ["hypercorn", "--config", "python:api.serving.HYPERCORN", "api:create_app()", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
