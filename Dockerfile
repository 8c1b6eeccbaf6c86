# The vodrec image: one image for the user-code server, the webserver, the daemon and the one-shot jobs.
#   docker build -t vodrec .        (docker compose builds it for you)
# Stage 1 builds wheels for everything, including LightFM from its source distribution; stage 2 installs
# them without a compiler.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # LightFM's setup.py adds -march=native -ffast-math unless this is set: the image must run on any
    # x86-64 host, not only the CPU it was built on.
    LIGHTFM_NO_CFLAGS=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY vodrec_assets ./vodrec_assets
# pymysql[rsa] (cryptography) is needed for MySQL 8's default caching_sha2_password over plain TCP.
RUN pip wheel --wheel-dir /wheels . "pymysql[rsa]>=1.1"

FROM ${PYTHON_IMAGE}
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home
# libgomp1: LightFM's OpenMP build links against it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 1000 dagster \
 && useradd --system --uid 1000 --gid dagster --home-dir /opt/dagster --create-home dagster
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-index --find-links=/tmp/wheels vodrec "pymysql[rsa]" \
 && rm -rf /tmp/wheels \
 && python -c "import lightfm, vodrec_assets, dagster_mysql, dagster_aws"

WORKDIR /opt/dagster/app
# The production instance config (MySQL storage, credentials from env) and the gRPC workspace.
COPY deploy/dagster.yaml /opt/dagster/dagster_home/dagster.yaml
COPY workspace.compose.yaml /opt/dagster/app/workspace.yaml
# The [tool.dg] project settings beside the working directory: vodrec_assets.definitions loads the defs folder
# they name (dg.load_from_defs_folder) from the installed package.
COPY pyproject.toml /opt/dagster/app/pyproject.toml
COPY deploy/create_bucket.py /opt/dagster/app/deploy/create_bucket.py
# Every container of the image refuses to start with a `changeme` left from .env.example.
COPY deploy/mysql/initdb/00-refuse-placeholders.sh /opt/dagster/app/deploy/00-refuse-placeholders.sh
RUN mkdir -p /opt/dagster/dagster_home/storage \
 && chown -R dagster:dagster /opt/dagster
USER dagster

EXPOSE 3000 4000
ENTRYPOINT ["/bin/sh", "/opt/dagster/app/deploy/00-refuse-placeholders.sh"]
CMD ["dagster", "code-server", "start", "-m", "vodrec_assets.definitions", "-h", "0.0.0.0", "-p", "4000"]
