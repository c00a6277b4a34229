# The shiftswitch image: every process (worker, scheduler, migrate, sandbox) is this image with a
# different command. Configuration comes from the environment only (see README, Configuration).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY shiftswitch ./shiftswitch
COPY worker ./worker
COPY scheduler ./scheduler
COPY migrations ./migrations
RUN pip install ".[postgres]" \
    && useradd --system --uid 10001 --home-dir /app shiftswitch
# The example roster and the sandbox's seed; mount your own roster over /config/schedules.yaml.
COPY schedules.yaml /config/schedules.yaml
COPY sandbox.yaml /app/sandbox.yaml

USER shiftswitch
ENV SHIFTSWITCH_ROSTER=/config/schedules.yaml
ENTRYPOINT ["shiftswitch"]
CMD ["--help"]
