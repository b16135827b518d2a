#!/bin/sh
# Container entry point: bring the schema up to date, then run the command (gunicorn by default).
set -eu
python manage.py migrate --noinput
exec "$@"
