#!/bin/sh
# Refuses to start a container while any variable still holds the `changeme` placeholder of an unedited
# .env.example, then execs the command it was given. The entrypoint of the project image (code, webserver,
# daemon, createbucket) and, in docker-compose.yml, of the mysql service in front of the image's own
# docker-entrypoint.sh: the database is never initialized with a placeholder password. It sits in the
# init folder so that the mysql service sees it; sourced again there, it only checks.
placeholders=$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=changeme$/\1/p' | sort | tr '\n' ' ')
if [ -n "$placeholders" ]; then
    echo "refusing to start: ${placeholders}still hold the placeholder 'changeme' of .env.example;" \
         "put real values in .env (docs/deploy.md shows a one-liner)" >&2
    exit 78  # EX_CONFIG
fi
if [ "${0##*/}" = "00-refuse-placeholders.sh" ] && [ "$#" -gt 0 ]; then
    exec "$@"
fi
