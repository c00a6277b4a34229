# The shiftswitch image: every process (worker, scheduler, migrate, sandbox) is this image with a
# different command. Configuration comes from the environment only (see README, Configuration).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The dependencies first, in a layer of their own, so that a change to the code does not
# reinstall them. Their list is read from pyproject.toml, the one place that declares it.
COPY pyproject.toml ./
RUN python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print("\n".join(p["dependencies"] + p["optional-dependencies"]["postgres"]))' > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt \
    && useradd --system --uid 10001 --home-dir /app shiftswitch

# Then shiftswitch itself, whose dependencies are all there, with the roster reader's C part:
# built with gcc and libyaml's headers, which are removed after (libyaml itself stays).
COPY README.md LICENSE alembic.ini ./
COPY shiftswitch ./shiftswitch
COPY worker ./worker
COPY scheduler ./scheduler
COPY migrations ./migrations
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev libyaml-dev \
    && apt-mark manual libyaml-0-2 \
    && pip install --no-deps . \
    && python -c 'import shiftswitch.roster._fastyaml' \
    && apt-get purge -y --auto-remove gcc libc6-dev libyaml-dev \
    && rm -rf /var/lib/apt/lists/*
# The example roster and the sandbox's seed; mount your own roster over /config/schedules.yaml.
COPY schedules.yaml /config/schedules.yaml
COPY sandbox.yaml /app/sandbox.yaml

USER shiftswitch
ENV SHIFTSWITCH_ROSTER=/config/schedules.yaml
ENTRYPOINT ["shiftswitch"]
CMD ["--help"]
