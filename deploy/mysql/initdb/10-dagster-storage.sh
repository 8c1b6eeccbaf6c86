#!/usr/bin/env bash
# Creates the Dagster storage database and its own user next to the source database `vod_rec`
# (which the image creates from MYSQL_DATABASE / MYSQL_USER / MYSQL_PASSWORD).
#
# Run once by the official mysql image on an empty data volume (it sources the *.sh files of
# /docker-entrypoint-initdb.d). No name or password is written here: all come from the environment:
#   DAGSTER_MYSQL_DB, DAGSTER_MYSQL_USER, DAGSTER_MYSQL_PASSWORD   (required)
# Outside the image (tests, a hand-run on an existing server) it talks to the server with the `mysql`
# client as root: INIT_MYSQL_HOST (default localhost), INIT_MYSQL_PORT (3306), MYSQL_ROOT_PASSWORD.
#
# The image *sources* this file, so everything runs in a subshell: its shell options and functions do not
# leak into the entrypoint, and a failure (non-zero status) still stops the container's initialization.
(
set -euo pipefail

: "${DAGSTER_MYSQL_DB:?DAGSTER_MYSQL_DB is required}"
: "${DAGSTER_MYSQL_USER:?DAGSTER_MYSQL_USER is required}"
: "${DAGSTER_MYSQL_PASSWORD:?DAGSTER_MYSQL_PASSWORD is required}"

# Names cannot be bound as parameters, so they are restricted to a safe alphabet instead.
for name in "$DAGSTER_MYSQL_DB" "$DAGSTER_MYSQL_USER"; do
  if [[ ! "$name" =~ ^[A-Za-z0-9_]{1,32}$ ]]; then
    echo "10-dagster-storage.sh: '$name' is not a plain name (letters, digits, _; at most 32)" >&2
    exit 1
  fi
done

# The password is a string literal: escape backslashes and single quotes.
sql_string() {
  local s=${1//\\/\\\\}
  printf "'%s'" "${s//\'/\\\'}"
}

run_sql() {
  if declare -F docker_process_sql >/dev/null; then
    # Inside the mysql image's entrypoint: root over the init server's socket. The extra --database
    # keeps it from defaulting to MYSQL_DATABASE.
    docker_process_sql --database=mysql
  else
    MYSQL_PWD="${MYSQL_ROOT_PASSWORD:-}" mysql --user=root --host="${INIT_MYSQL_HOST:-localhost}" \
      --port="${INIT_MYSQL_PORT:-3306}" --batch mysql
  fi
}

password_literal=$(sql_string "$DAGSTER_MYSQL_PASSWORD")

run_sql <<SQL
CREATE DATABASE IF NOT EXISTS \`${DAGSTER_MYSQL_DB}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '${DAGSTER_MYSQL_USER}'@'%' IDENTIFIED BY ${password_literal};
ALTER USER '${DAGSTER_MYSQL_USER}'@'%' IDENTIFIED BY ${password_literal};
GRANT ALL PRIVILEGES ON \`${DAGSTER_MYSQL_DB}\`.* TO '${DAGSTER_MYSQL_USER}'@'%';
FLUSH PRIVILEGES;
SQL

echo "10-dagster-storage.sh: database ${DAGSTER_MYSQL_DB} and user ${DAGSTER_MYSQL_USER} ready"
)
